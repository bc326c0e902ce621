# PAM users by source account name in one source domain: search and verify (connectors/pam/connector.py).
# Runs inside the runner's wrapper (connectors/_shared/powershell.py): what it outputs is `data`.
# $MimbotArgs: names (the account name as typed, and its typographic spelling), domain (the
# source domain's NetBIOS name). Output: an array of PAM users, possibly empty.
Import-Module MIMPAM
$domain = [string]$MimbotArgs.domain
$found = foreach ($name in @($MimbotArgs.names)) {
    $name = [string]$name
    # Whether Get-PAMUser quotes a value inside its own MIM Service filter is not documented:
    # a name holding a quote is looked for here instead, among the domain's PAM users.
    $users = if ($name -match "['""]") {
        Get-PAMUser -SourceDomain $domain
    } else {
        Get-PAMUser -SourceAccountName $name -SourceDomain $domain
    }
    # Exact matches only (case-insensitive, as AD compares account names), whatever the
    # cmdlet's own matching does.
    $users | Where-Object { $_.SourceAccountName -eq $name -and $_.SourceDomain -eq $domain }
}
$privDomain = [Environment]::UserDomainName  # the MIM PAM server's (PRIV) domain
, @($found | ForEach-Object {
    $prop = $_.PSObject.Properties['PrivDomain']
    [ordered]@{
        id                  = ([string]$_.PrivUserResourceId) -replace '^urn:uuid:', ''
        source_account_name = [string]$_.SourceAccountName
        source_domain       = [string]$_.SourceDomain
        source_display_name = [string]$_.SourceDisplayName
        priv_account_name   = [string]$_.PrivAccountName
        priv_domain         = if ($prop -and $prop.Value) { [string]$prop.Value } else { $privDomain }
        priv_display_name   = [string]$_.PrivDisplayName
    }
})
