# The Requests that still target a (deleted) Person: when each was created and completed, no
# content; and the RetentionPeriod that decides when the retention job removes them.
# $MimbotArgs: module, uri, xpath (/Request[Target = '<guid>']), retention_xpath.
# Outputs @{ requests = @(@{ created; completed }); periods = @(<int>...) }.
function ConvertTo-MimbotDate($Value) {
    if ($null -eq $Value -or "$Value" -eq '') { return $null }
    if ($Value -is [datetime]) { return $Value.ToUniversalTime().ToString('o') }
    [string]$Value  # Export-FIMConfig gives dates as ISO strings in UTC
}
$times = 'CreatedTime', 'msidmCompletedTime'
if ($MimbotArgs.module -eq 'lithnetrma') {
    Import-Module LithnetRMA
    Set-ResourceManagementClient -BaseAddress $MimbotArgs.uri
    $requests = @(foreach ($r in Search-Resources -XPath $MimbotArgs.xpath -AttributesToGet $times) {
        @{ created = ConvertTo-MimbotDate $r.CreatedTime; completed = ConvertTo-MimbotDate $r.msidmCompletedTime }
    })
    $periods = @(foreach ($c in Search-Resources -XPath $MimbotArgs.retention_xpath -AttributesToGet RetentionPeriod) {
        if ($null -ne $c.RetentionPeriod) { [int]$c.RetentionPeriod }
    })
} else {
    if (-not (Get-PSSnapin FIMAutomation -ErrorAction SilentlyContinue)) { Add-PSSnapin FIMAutomation }
    function Get-MimbotValue($Object, $Name) {
        ($Object.ResourceManagementObject.ResourceManagementAttributes |
            Where-Object { $_.AttributeName -eq $Name }).Value
    }
    $export = Export-FIMConfig -Uri $MimbotArgs.uri -OnlyBaseResources -CustomConfig $MimbotArgs.xpath
    $requests = @(foreach ($o in @($export) | Where-Object { $_ }) {
        @{ created = ConvertTo-MimbotDate (Get-MimbotValue $o 'CreatedTime')
            completed = ConvertTo-MimbotDate (Get-MimbotValue $o 'msidmCompletedTime') }
    })
    $config = Export-FIMConfig -Uri $MimbotArgs.uri -OnlyBaseResources -CustomConfig $MimbotArgs.retention_xpath
    $periods = @(foreach ($o in @($config) | Where-Object { $_ }) {
        $value = Get-MimbotValue $o 'RetentionPeriod'
        if ($null -ne $value) { [int]$value }
    })
}
@{ requests = $requests; periods = $periods }
