# A person's smart cards and software profiles in MIM Certificate Management, with their
# certificates: search, read and verify (connectors/certmgmt/connector.py). Read only.
# Runs on the CM server inside the runner's wrapper (connectors/_shared/powershell.py): what it
# outputs is `data`.
# $MimbotArgs: bin (the CM web's bin folder), domain (NetBIOS), names (account names: the name
# as typed and its typographic spelling), guids (AD objectGUIDs). Output: an array of CM users
# that CM holds a smart card or profile for, possibly empty; `unresolved` names no AD account.
#
# Sources (FIM CM SDK, learn.microsoft.com/previous-versions/windows/desktop/forefront-2010):
# FindOperations (bb490351, members bb468109) searches profiles, smart cards, certificates and
# requests; FindSmartcards (bb456803) takes assignedUsersUuid; FindRequests (bb456802) takes
# targetUsersUuid and returns the requests the caller may read, whose NewProfileUuid names a
# software profile (Request members bb456674), read with GetProfile (bb456805); FindCertificates
# takes a smart card or a profile. Users in CM have no id of their own: they are the AD user's
# objectGUID ("Using the Management Agent for Certificate Management", previous-versions/mim/
# jj590240). Nothing here writes.
$bin = [string]$MimbotArgs.bin
Add-Type -Path (Join-Path $bin 'Microsoft.Clm.Shared.dll')
Add-Type -Path (Join-Path $bin 'Microsoft.Clm.Provision.dll')
$domain = [string]$MimbotArgs.domain
$never = [DateTime]::MinValue
$ever = [DateTime]::MaxValue

function Get-AdUser([string]$path) {
    # Bound by SID or GUID (<SID=...>, <GUID=...>): no LDAP filter is built from a value.
    $entry = [ADSI]$path
    if ($null -eq $entry.Guid) { return $null }
    [ordered]@{ guid = ([guid]$entry.Guid).ToString(); account = [string]$entry.sAMAccountName }
}

$users = [ordered]@{}
$unresolved = @()
foreach ($name in @($MimbotArgs.names)) {
    $name = [string]$name
    try {
        $sid = ([Security.Principal.NTAccount]::new($domain, $name)).Translate(
            [Security.Principal.SecurityIdentifier])
    } catch [Security.Principal.IdentityNotMappedException] {
        $unresolved += $name
        continue
    }
    $ad = Get-AdUser "LDAP://<SID=$($sid.Value)>"
    # The exact account only (case-insensitive, as AD compares account names).
    if ($null -ne $ad -and $ad.account -eq $name) { $users[$ad.guid] = $ad }
}
foreach ($g in @($MimbotArgs.guids)) {
    $g = ([guid][string]$g).ToString()
    if ($users.Contains($g)) { continue }
    # The AD account may be gone while CM still holds its records: CM keys them by the GUID.
    $ad = try { Get-AdUser "LDAP://<GUID=$g>" } catch { $null }
    $users[$g] = if ($null -ne $ad) { $ad } else { [ordered]@{ guid = $g; account = '' } }
}

function Get-Certificates($holder) {
    , @([Microsoft.Clm.Provision.FindOperations]::FindCertificates($holder) | ForEach-Object {
        # X509Certificate2.NotAfter is local time: sent as UTC, with its zone.
        $notAfter = if ($_.NotAfter -is [DateTime]) { $_.NotAfter.ToUniversalTime().ToString('o') } else { '' }
        [ordered]@{
            serial     = [string]$_.SerialNumber
            thumbprint = [string]$_.Thumbprint
            template   = [string]$_.TemplateCommonName
            not_after  = $notAfter
        }
    })
}

$found = foreach ($user in $users.Values) {
    $uuid = [guid]$user.guid
    $cards = @([Microsoft.Clm.Provision.FindOperations]::FindSmartcards(
        $null, $null, $null, [guid[]]@($uuid), $never, $ever) |
        Where-Object { $_.AssignedUserUuid -eq $uuid })
    $requests = @([Microsoft.Clm.Provision.FindOperations]::FindRequests(
        $null, $null, $null, [guid[]]@($uuid), $never, $ever) |
        Where-Object { $_.TargetUserUuid -eq $uuid -and -not $_.IsSmartcard -and $_.NewProfileUuid -ne [guid]::Empty })
    $profiles = @($requests | ForEach-Object { $_.NewProfileUuid } | Sort-Object -Unique | ForEach-Object {
        [Microsoft.Clm.Provision.FindOperations]::GetProfile($_)
    } | Where-Object { $null -ne $_ -and $_.AssignedUserUuid -eq $uuid })
    if ($cards.Count -eq 0 -and $profiles.Count -eq 0) { continue }
    [ordered]@{
        uuid       = $user.guid
        domain     = $domain
        account    = $user.account
        smartcards = @($cards | ForEach-Object {
            [ordered]@{ uuid = ([guid]$_.Uuid).ToString(); status = [string]$_.Status
                        template = ([guid]$_.ProfileTemplateUuid).ToString()
                        certificates = (Get-Certificates $_) }
        })
        profiles   = @($profiles | ForEach-Object {
            [ordered]@{ uuid = ([guid]$_.Uuid).ToString(); status = [string]$_.Status
                        template = ([guid]$_.ProfileTemplateUuid).ToString()
                        certificates = (Get-Certificates $_) }
        })
    }
}
[ordered]@{ users = @($found); unresolved = @($unresolved) }
