# Remove one PAM user (its MIM Service object and its PRIV shadow account) by its MIM Service
# resource id: the erasure step of connectors/pam/connector.py. Runs inside the runner's wrapper
# (connectors/_shared/powershell.py): what it outputs is `data`.
# $MimbotArgs: id (a GUID). Output: removed = $false when there was no such user (idempotent).
Import-Module MIMPAM
$id = ([guid][string]$MimbotArgs.id).ToString()  # a GUID or an error: never a filter
$user = Get-PAMUser |
    Where-Object { (([string]$_.PrivUserResourceId) -replace '^urn:uuid:', '') -eq $id } |
    Select-Object -First 1
if ($null -eq $user) { return [ordered]@{ removed = $false } }
Remove-PAMUser -User $user -Force -Confirm:$false | Out-Null
[ordered]@{ removed = $true }
