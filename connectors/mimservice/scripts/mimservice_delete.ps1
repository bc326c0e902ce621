# Delete one Person: ImportObject State=Delete (FIMAutomation) or Remove-Resource (LithnetRMA).
# $MimbotArgs: module, uri, id (the ObjectID GUID), xpath (/Person[ObjectID = '<guid>']),
# message_size (optional, bytes: Export-FIMConfig -MessageSize).
# Outputs @{ deleted = $false } when no such Person exists (already gone), else $true.
if ($MimbotArgs.module -eq 'lithnetrma') {
    Import-Module LithnetRMA
    Set-ResourceManagementClient -BaseAddress $MimbotArgs.uri
    $person = @(Search-Resources -XPath $MimbotArgs.xpath -AttributesToGet ObjectID) | Select-Object -First 1
    if ($person) { Remove-Resource -ID $MimbotArgs.id }
} else {
    if (-not (Get-PSSnapin FIMAutomation -ErrorAction SilentlyContinue)) { Add-PSSnapin FIMAutomation }
    $export = @{ Uri = $MimbotArgs.uri; OnlyBaseResources = $true; CustomConfig = $MimbotArgs.xpath }
    if ($MimbotArgs.message_size) { $export.MessageSize = [string]$MimbotArgs.message_size }
    $person = @(Export-FIMConfig @export | Where-Object { $_ }) | Select-Object -First 1
    if ($person) {
        $import = New-Object Microsoft.ResourceManagement.Automation.ObjectModel.ImportObject
        $import.ObjectType = 'Person'
        $import.TargetObjectIdentifier = 'urn:uuid:' + $MimbotArgs.id
        $import.SourceObjectIdentifier = $import.TargetObjectIdentifier
        $import.State = [Microsoft.ResourceManagement.Automation.ObjectModel.ImportState]::Delete
        $notApplied = $import | Import-FIMConfig -Uri $MimbotArgs.uri
        if ($notApplied) { throw 'Import-FIMConfig did not apply the delete' }
    }
}
@{ deleted = [bool]$person }
