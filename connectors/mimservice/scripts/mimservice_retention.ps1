# RetentionPeriod (days) of each SystemResourceRetentionConfiguration; none: the default, 30.
# $MimbotArgs: module, uri, xpath (/SystemResourceRetentionConfiguration).
# Outputs @{ periods = @(<int>...) }.
$periods = @(if ($MimbotArgs.module -eq 'lithnetrma') {
    Import-Module LithnetRMA
    Set-ResourceManagementClient -BaseAddress $MimbotArgs.uri
    foreach ($c in Search-Resources -XPath $MimbotArgs.xpath -AttributesToGet RetentionPeriod) {
        if ($null -ne $c.RetentionPeriod) { [int]$c.RetentionPeriod }
    }
} else {
    if (-not (Get-PSSnapin FIMAutomation -ErrorAction SilentlyContinue)) { Add-PSSnapin FIMAutomation }
    $export = Export-FIMConfig -Uri $MimbotArgs.uri -OnlyBaseResources -CustomConfig $MimbotArgs.xpath
    foreach ($o in @($export) | Where-Object { $_ }) {
        $a = $o.ResourceManagementObject.ResourceManagementAttributes |
            Where-Object { $_.AttributeName -eq 'RetentionPeriod' }
        if ($a -and $null -ne $a.Value) { [int]$a.Value }
    }
})
@{ periods = $periods }
