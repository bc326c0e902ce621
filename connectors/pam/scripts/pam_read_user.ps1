# One PAM user by its MIM Service resource id, with the PAM roles it is a candidate of
# (connectors/pam/connector.py `read` and `plan_delete`). Runs inside the runner's wrapper
# (connectors/_shared/powershell.py): what it outputs is `data`.
# $MimbotArgs: id (a GUID). Output: the user, or null when there is none.
Import-Module MIMPAM
$id = ([guid][string]$MimbotArgs.id).ToString()  # a GUID or an error: never a filter
# Get-PAMUser has no id parameter: the PAM users are listed and compared (a few hundred at most).
$user = Get-PAMUser |
    Where-Object { (([string]$_.PrivUserResourceId) -replace '^urn:uuid:', '') -eq $id } |
    Select-Object -First 1
if ($null -eq $user) { return $null }
$roles = @(Get-PAMRole | Where-Object {
    @($_.Candidates | Where-Object {
        (([string]$_.PrivUserResourceId) -replace '^urn:uuid:', '') -eq $id
    }).Count -gt 0
} | ForEach-Object { [string]$_.DisplayName })
$prop = $user.PSObject.Properties['PrivDomain']
[ordered]@{
    id                  = $id
    source_account_name = [string]$user.SourceAccountName
    source_domain       = [string]$user.SourceDomain
    source_display_name = [string]$user.SourceDisplayName
    priv_account_name   = [string]$user.PrivAccountName
    priv_domain         = if ($prop -and $prop.Value) { [string]$prop.Value } else { [Environment]::UserDomainName }
    priv_display_name   = [string]$user.PrivDisplayName
    roles               = $roles
}
