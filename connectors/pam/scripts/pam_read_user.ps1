# One PAM user by its MIM Service resource id, with the PAM roles it is a candidate of
# (connectors/pam/connector.py `read` and `plan_delete`). Runs inside the runner's wrapper
# (connectors/_shared/powershell.py): what it outputs is `data`.
# $MimbotArgs: id (a GUID, the PrivUserResourceId). Output: the user, or null when there is none.
Import-Module MIMPAM
function Get-MimbotId($Value) { ([string]$Value) -replace '^urn:uuid:', '' }
# As in pam_get_user.ps1 (each script is sent alone, so the function is repeated).
function ConvertTo-MimbotPamUser($User) {
    [ordered]@{
        id                  = Get-MimbotId $User.PrivUserResourceId
        source_user_id      = Get-MimbotId $User.SourceUserResourceId
        source_account_name = [string]$User.SourceAccountName
        source_domain       = [string]$User.SourceDomain
        source_display_name = [string]$User.SourceDisplayName
        priv_account_name   = [string]$User.PrivAccountName
        priv_upn            = [string]$User.PrivUserPrincipalName
        priv_display_name   = [string]$User.PrivDisplayName
    }
}
$id = ([guid][string]$MimbotArgs.id).ToString()  # a GUID or an error: never a filter
# Get-PAMUser has no id parameter: the PAM users are listed and compared (a few hundred at most).
$user = @(Get-PAMUser | Where-Object { (Get-MimbotId $_.PrivUserResourceId) -eq $id }) |
    Select-Object -First 1
if ($null -eq $user) { return $null }
# Get-PAMRole's roles carry .Candidates, PAMUser objects (PSD Set-PAMRole example 2; PAMPOW).
$out = ConvertTo-MimbotPamUser $user
$roles = @(); $only = @()
foreach ($role in @(Get-PAMRole)) {
    $candidates = @($role.Candidates | Where-Object { $null -ne $_ })
    $mine = @($candidates | Where-Object { (Get-MimbotId $_.PrivUserResourceId) -eq $id })
    if ($mine.Count -eq 0) { continue }
    $roles += [string]$role.DisplayName
    if ($mine.Count -eq $candidates.Count) { $only += [string]$role.DisplayName }
}
$out.roles = $roles
$out.only_candidate_of = $only  # roles the removal cannot leave without a candidate
$out
