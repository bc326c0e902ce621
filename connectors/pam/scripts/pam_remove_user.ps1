# Remove one PAM user by its MIM Service resource id (PrivUserResourceId): the erasure step of
# connectors/pam/connector.py. Runs inside the runner's wrapper (connectors/_shared/powershell.py):
# what it outputs is `data`. $MimbotArgs: id (a GUID).
# Output: removed ($false when there was no such user: idempotent), roles (the PAM roles the user
# was taken off), refused ('only_candidate' or 'still_candidate', with roles, when nothing was
# removed), remaining (what is still there afterwards: $true there, $false gone, $null could not
# be told) and unchecked (what could not be told, and the error's type).
Import-Module MIMPAM
function Get-MimbotId($Value) { ([string]$Value) -replace '^urn:uuid:', '' }
function Get-MimbotCandidates($Role) { @($Role.Candidates | Where-Object { $null -ne $_ }) }
# Whether an exception, or one inside it, is ADSI's 0x80072030 "There is no such object on the
# server" (LDAP_NO_SUCH_OBJECT; Win32 error codes for ADSI, learn.microsoft.com).
function Test-MimbotNoSuchObject($Exception) {
    for ($e = $Exception; $null -ne $e; $e = $e.InnerException) {
        if ($e.HResult -eq -2147016656) { return $true }
    }
    $false
}
$id = ([guid][string]$MimbotArgs.id).ToString()  # a GUID or an error: never a filter
$user = @(Get-PAMUser | Where-Object { (Get-MimbotId $_.PrivUserResourceId) -eq $id }) |
    Select-Object -First 1
$sourceId = ''; $sid = ''; $changed = @()
if ($null -ne $user) {
    # Each PAM user is two MIM Service objects, the source (CORP) user's and the PRIV account's
    # (MIMDocs pam/step-6-transition-group-to-pam.md): both ids are kept, to check both go.
    $raw = Get-MimbotId $user.SourceUserResourceId
    if ($raw) { $sourceId = ([guid]$raw).ToString() }
    $rawSid = $user.PrivAccountSID
    $sid = if ($rawSid -is [byte[]]) {
        (New-Object Security.Principal.SecurityIdentifier($rawSid, 0)).Value
    } else { [string]$rawSid }
    if ($sid -notmatch '^S-1-[0-9-]+$') { $sid = '' }
    # Remove-PAMUser fails while the user is a candidate of a PAM role (MIMDocs
    # reference/version-history.md, 4.5.26.0): take the user off each role's candidates first,
    # with Set-PAMRole -Candidates and the others (PSD Set-PAMRole; PAMPOW Remove-PAMPOWUserFromRole).
    $plan = @(foreach ($role in @(Get-PAMRole)) {
            $candidates = Get-MimbotCandidates $role
            $others = @($candidates | Where-Object { (Get-MimbotId $_.PrivUserResourceId) -ne $id })
            if ($others.Count -lt $candidates.Count) { [pscustomobject]@{ Role = $role; Others = $others } }
        })
    # What Set-PAMRole does with an empty -Candidates is not documented: a role whose only
    # candidate this is stays as it is, and nothing is removed.
    $only = @($plan | Where-Object { $_.Others.Count -eq 0 } | ForEach-Object { [string]$_.Role.DisplayName })
    if ($only.Count) { return [ordered]@{ removed = $false; refused = 'only_candidate'; roles = $only } }
    foreach ($step in $plan) {
        Set-PAMRole -Role $step.Role -Candidates $step.Others | Out-Null
        $changed += [string]$step.Role.DisplayName
    }
    $still = @(Get-PAMRole | Where-Object {
            @(Get-MimbotCandidates $_ | Where-Object { (Get-MimbotId $_.PrivUserResourceId) -eq $id }).Count
        } | ForEach-Object { [string]$_.DisplayName })
    if ($still.Count) {
        return [ordered]@{ removed = $false; refused = 'still_candidate'; roles = $still; changed = $changed }
    }
    # Removes the user "from the MIM Service and the PAM domain" (PSD Remove-PAMUser): the PAM
    # domain's account is written on a PRIV domain controller, a second hop from this session.
    Remove-PAMUser -User $user -Force -Confirm:$false | Out-Null
}
# Afterwards: what is still there, each asked separately, so one failing check hides no other.
$remaining = [ordered]@{}; $unchecked = [ordered]@{}
$remaining.pam_user = @(Get-PAMUser | Where-Object {
        (Get-MimbotId $_.PrivUserResourceId) -eq $id -or
        ($sourceId -and (Get-MimbotId $_.SourceUserResourceId) -eq $sourceId)
    }).Count -gt 0
try {
    # The MIM Service objects by ObjectID (FIMAutomation, installed with the MIM Service on the
    # PAM server; an export that matches nothing returns nothing: shared/reference row 1.14).
    if (-not (Get-PSSnapin FIMAutomation -ErrorAction SilentlyContinue)) { Add-PSSnapin FIMAutomation }
    $ids = @($id) + @($sourceId | Where-Object { $_ })
    $xpath = '/*[' + (($ids | ForEach-Object { "ObjectID = '$_'" }) -join ' or ') + ']'
    $found = @(Export-FIMConfig -Uri 'http://localhost:5725' -OnlyBaseResources -CustomConfig $xpath |
            Where-Object { $_ } |
            ForEach-Object { Get-MimbotId $_.ResourceManagementObject.ObjectIdentifier })
    $remaining.priv_object = $found -contains $id
    if ($null -ne $user) { $remaining.source_object = if ($sourceId) { $found -contains $sourceId } else { $null } }
    if ($null -ne $user -and -not $sourceId) { $unchecked.source_object = 'no SourceUserResourceId' }
} catch {
    $remaining.priv_object = $null; $unchecked.priv_object = $_.Exception.GetType().FullName
    if ($null -ne $user) { $remaining.source_object = $null; $unchecked.source_object = $unchecked.priv_object }
}
if ($null -ne $user) {
    # The PRIV account by its SID (ADSI "Binding to an Object Using a SID"): another hop to a
    # PRIV domain controller, which fails without delegated credentials (shared/reference HOP).
    if (-not $sid) {
        $remaining.priv_account = $null; $unchecked.priv_account = 'no PrivAccountSID'
    } else {
        try {
            (New-Object DirectoryServices.DirectoryEntry("LDAP://<SID=$sid>")).RefreshCache()
            $remaining.priv_account = $true
        } catch {
            if (Test-MimbotNoSuchObject $_.Exception) { $remaining.priv_account = $false } else {
                $remaining.priv_account = $null; $unchecked.priv_account = $_.Exception.GetType().FullName
            }
        }
    }
}
[ordered]@{ removed = $null -ne $user; roles = $changed; remaining = $remaining; unchecked = $unchecked }
