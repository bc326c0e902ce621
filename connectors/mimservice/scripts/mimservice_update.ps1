# Set or clear single-valued string attributes of one Person: an ImportObject of State Put with
# one Replace change per attribute (FIMAutomation), or Get-Resource, set, Save-Resource
# (LithnetRMA). Attribute names and values are data from $MimbotArgs, never script text.
# $MimbotArgs: module, uri, id (the ObjectID GUID), changes (@{ attribute; value } each; a
# $null value clears: an empty Replace, or $null in LithnetRMA).
# Outputs @{ updated = <number of changes sent> }. No such Person is an error, as the cmdlets
# make it: Get-Resource throws ResourceNotFoundException rather than returning $null
# (lithnet/resourcemanagement-powershell GetResource.cs), which the connector reads as NotFound.
$changes = @($MimbotArgs.changes)
if ($MimbotArgs.module -eq 'lithnetrma') {
    Import-Module LithnetRMA
    Set-ResourceManagementClient -BaseAddress $MimbotArgs.uri
    $names = @(foreach ($c in $changes) { [string]$c.attribute })
    $person = Get-Resource -ID $MimbotArgs.id -AttributesToGet $names
    foreach ($c in $changes) {
        $value = if ($null -eq $c.value) { $null } else { [string]$c.value }
        $person.([string]$c.attribute) = $value
    }
    $null = Save-Resource -Resources $person  # only the result below is output
} else {
    if (-not (Get-PSSnapin FIMAutomation -ErrorAction SilentlyContinue)) { Add-PSSnapin FIMAutomation }
    $import = New-Object Microsoft.ResourceManagement.Automation.ObjectModel.ImportObject
    $import.ObjectType = 'Person'
    $import.TargetObjectIdentifier = 'urn:uuid:' + $MimbotArgs.id
    $import.SourceObjectIdentifier = $import.TargetObjectIdentifier
    $import.State = [Microsoft.ResourceManagement.Automation.ObjectModel.ImportState]::Put
    $import.Changes = [Microsoft.ResourceManagement.Automation.ObjectModel.ImportChange[]]@(
        foreach ($c in $changes) {
            $change = New-Object Microsoft.ResourceManagement.Automation.ObjectModel.ImportChange
            $change.Operation = [Microsoft.ResourceManagement.Automation.ObjectModel.ImportOperation]::Replace
            $change.AttributeName = [string]$c.attribute
            $change.AttributeValue = [string]$c.value  # $null becomes '': the clear
            $change.FullyResolved = $true
            $change.Locale = 'Invariant'
            $change
        })
    $notApplied = $import | Import-FIMConfig -Uri $MimbotArgs.uri
    if ($notApplied) { throw 'Import-FIMConfig did not apply the update' }
}
@{ updated = $changes.Count }
