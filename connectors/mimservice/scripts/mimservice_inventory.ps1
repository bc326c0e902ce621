# What the MIM Service holds, for the data map (connectors/mimservice/connector.py `inventory`):
# the module's version, the RetentionPeriod of each SystemResourceRetentionConfiguration the
# account can read, and, with LithnetRMA, how many Persons there are. Read-only, and no Person
# is read: Get-ResourceCount asks for ObjectID only, with a page size of 0, and outputs the
# result collection's Count (lithnet/resourcemanagement-powershell GetResourceCount.cs).
# FIMAutomation has no count cmdlet (FIMAutomation.md), and Export-FIMConfig returns every
# attribute of each object it finds (Export-FIMConfig.md: no attribute selection), so with it
# nothing is counted. Each part reports its own error (the exception's type only), so one fault
# hides no other; a module that does not load fails the whole script.
# $MimbotArgs: module, uri, retention_xpath (/SystemResourceRetentionConfiguration),
# persons_xpath (/Person; LithnetRMA only).
# Outputs @{ version; retention = @{ periods = @(<int>...); error }; persons = @{ count; error } }.
function Get-MimbotError($Record) { $Record.Exception.GetType().FullName }
$lithnet = $MimbotArgs.module -eq 'lithnetrma'
if ($lithnet) {
    Import-Module LithnetRMA
    $version = [string](Get-Module LithnetRMA).Version
    Set-ResourceManagementClient -BaseAddress $MimbotArgs.uri
} else {
    if (-not (Get-PSSnapin FIMAutomation -ErrorAction SilentlyContinue)) { Add-PSSnapin FIMAutomation }
    $version = [string](Get-PSSnapin FIMAutomation).Version
}
try {
    $periods = @(if ($lithnet) {
        # Attributes are the result's own properties (RmaObject.cs LoadProperties).
        foreach ($c in Search-Resources -XPath $MimbotArgs.retention_xpath -AttributesToGet RetentionPeriod) {
            if ($null -ne $c.RetentionPeriod) { [int]$c.RetentionPeriod }
        }
    } else {
        $export = Export-FIMConfig -Uri $MimbotArgs.uri -OnlyBaseResources -CustomConfig $MimbotArgs.retention_xpath
        foreach ($o in @($export) | Where-Object { $_ }) {
            $a = $o.ResourceManagementObject.ResourceManagementAttributes |
                Where-Object { $_.AttributeName -eq 'RetentionPeriod' }
            if ($a -and $null -ne $a.Value) { [int]$a.Value }
        }
    })
    $retention = @{ periods = $periods }
} catch { $retention = @{ periods = @(); error = Get-MimbotError $_ } }
$persons = @{ count = $null }
if ($lithnet) {
    try { $persons = @{ count = [int](Get-ResourceCount -XPath $MimbotArgs.persons_xpath) } }
    catch { $persons = @{ count = $null; error = Get-MimbotError $_ } }
}
@{ version = $version; retention = $retention; persons = $persons }
