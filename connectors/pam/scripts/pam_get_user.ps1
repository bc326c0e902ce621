# PAM users by source account name in one source domain: search, search_records and verify
# (connectors/pam/connector.py).
# Runs inside the runner's wrapper (connectors/_shared/powershell.py): what it outputs is `data`.
# $MimbotArgs: names (the account name as typed, and its typographic spelling), domains (the
# source domains to look in, each a NetBIOS or a DNS name), records (optional, a number: see
# below). Output: an array of PAM users, possibly empty.
Import-Module MIMPAM
function Get-MimbotId($Value) { ([string]$Value) -replace '^urn:uuid:', '' }
# One PAM user as the connector reads it. Property names: PSD Get-PAMUser/Set-PAMUser and the
# community PAMPOW module (PrivUserResourceId, SourceUserResourceId, PrivUserPrincipalName).
# No source lists a PrivDomain property: the PRIV domain is the UPN's suffix, derived by the
# connector, never the WinRM account's own domain.
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
$domains = @(foreach ($d in @($MimbotArgs.domains)) { [string]$d })
$found = foreach ($name in @($MimbotArgs.names)) {
    $name = [string]$name
    # Whether Get-PAMUser quotes a value inside its own MIM Service filter is not documented:
    # a name holding a quote is looked for here instead, among all PAM users. -SourceDomain is
    # not passed: PAM may store the domain as NetBIOS or DNS name, in any case (New-PAMUser.md
    # says NetBIOS, its example and MIMDocs step 6 use CONTOSO.LOCAL), and -eq below compares
    # case-insensitively (about_Comparison_Operators), whatever the cmdlet's filter does.
    $users = if ($name -match "['""]") { Get-PAMUser } else { Get-PAMUser -SourceAccountName $name }
    # Exact matches only (case-insensitive, as AD compares account names; -contains compares
    # as -eq does).
    $users | Where-Object { $_.SourceAccountName -eq $name -and $domains -contains [string]$_.SourceDomain }
}
$result = @($found | ForEach-Object { ConvertTo-MimbotPamUser $_ })
# With records (search_records: find and read in one call), when at most that many users are
# found, each also gets the PAM roles it is a candidate of, exactly as pam_read_user.ps1 reads
# them, so its record needs no second call. Get-PAMRole failing leaves them out: the connector
# then reads the user with pam_read_user.ps1, which reports that error as a read does.
if ($MimbotArgs.records -and $result.Count -le [int]$MimbotArgs.records) {
    $rolesRead = $true
    try { $roles = @(Get-PAMRole) } catch { $rolesRead = $false }
    if ($rolesRead) {
        foreach ($out in $result) {
            $mine = @(); $only = @()
            # As in pam_read_user.ps1: .Candidates are PAMUser objects (PSD Set-PAMRole; PAMPOW).
            foreach ($role in $roles) {
                $candidates = @($role.Candidates | Where-Object { $null -ne $_ })
                $theirs = @($candidates | Where-Object { (Get-MimbotId $_.PrivUserResourceId) -eq $out.id })
                if ($theirs.Count -eq 0) { continue }
                $mine += [string]$role.DisplayName
                if ($theirs.Count -eq $candidates.Count) { $only += [string]$role.DisplayName }
            }
            $out.roles = $mine
            $out.only_candidate_of = $only  # roles the removal cannot leave without a candidate
        }
    }
}
, $result
