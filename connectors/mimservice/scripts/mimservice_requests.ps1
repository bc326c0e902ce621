# The Requests that still target a (deleted) Person: when each was created, completed and is
# set to expire (ExpirationTime, which every resource has), no content; and the RetentionPeriod
# of each SystemResourceRetentionConfiguration the account can read (none: it cannot read it).
# $MimbotArgs: module, uri, xpath (/Request[Target = '<guid>']), retention_xpath,
# message_size (optional, bytes: Export-FIMConfig -MessageSize).
# Outputs @{ requests = @(@{ created; completed; expires }); periods = @(<int>...) }.
function ConvertTo-MimbotDate($Value) {
    if ($null -eq $Value -or "$Value" -eq '') { return $null }
    if ($Value -is [datetime]) { return $Value.ToUniversalTime().ToString('o') }
    [string]$Value  # Export-FIMConfig gives dates as ISO strings in UTC
}
$times = 'CreatedTime', 'msidmCompletedTime', 'ExpirationTime'
if ($MimbotArgs.module -eq 'lithnetrma') {
    Import-Module LithnetRMA
    Set-ResourceManagementClient -BaseAddress $MimbotArgs.uri
    # Attributes are the result's own properties (RmaObject.cs LoadProperties).
    $requests = @(foreach ($r in Search-Resources -XPath $MimbotArgs.xpath -AttributesToGet $times) {
        @{ created = ConvertTo-MimbotDate $r.CreatedTime; completed = ConvertTo-MimbotDate $r.msidmCompletedTime
            expires = ConvertTo-MimbotDate $r.ExpirationTime }
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
    $export = @{ Uri = $MimbotArgs.uri; OnlyBaseResources = $true }
    if ($MimbotArgs.message_size) { $export.MessageSize = [string]$MimbotArgs.message_size }
    $found = Export-FIMConfig @export -CustomConfig $MimbotArgs.xpath
    $requests = @(foreach ($o in @($found) | Where-Object { $_ }) {
        @{ created = ConvertTo-MimbotDate (Get-MimbotValue $o 'CreatedTime')
            completed = ConvertTo-MimbotDate (Get-MimbotValue $o 'msidmCompletedTime')
            expires = ConvertTo-MimbotDate (Get-MimbotValue $o 'ExpirationTime') }
    })
    $config = Export-FIMConfig @export -CustomConfig $MimbotArgs.retention_xpath
    $periods = @(foreach ($o in @($config) | Where-Object { $_ }) {
        $value = Get-MimbotValue $o 'RetentionPeriod'
        if ($null -ne $value) { [int]$value }
    })
}
@{ requests = $requests; periods = $periods }
