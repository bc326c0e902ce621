# RetentionPeriod (days) of each SystemResourceRetentionConfiguration the account can read.
# A default install has one (MIMDocs mim-privacy-compliance.md), so none means the account may
# not read it (no MPR grants it): the connector then says the period is unknown.
# $MimbotArgs: module, uri, xpath (/SystemResourceRetentionConfiguration).
# Outputs @{ periods = @(<int>...) }.
$periods = @(if ($MimbotArgs.module -eq 'lithnetrma') {
    Import-Module LithnetRMA
    Set-ResourceManagementClient -BaseAddress $MimbotArgs.uri
    # Attributes are the result's own properties (RmaObject.cs LoadProperties).
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
