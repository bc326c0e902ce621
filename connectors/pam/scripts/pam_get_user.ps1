# PAM users by source account name in one source domain: search and verify (connectors/pam/connector.py).
# Runs inside the runner's wrapper (connectors/_shared/powershell.py): what it outputs is `data`.
# $MimbotArgs: names (the account name as typed, and its typographic spelling), domains (the
# source domains to look in, each a NetBIOS or a DNS name). Output: an array of PAM users,
# possibly empty.
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
, @($found | ForEach-Object { ConvertTo-MimbotPamUser $_ })
