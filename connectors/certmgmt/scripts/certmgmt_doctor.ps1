# What the Certificate Management connector assumes of the CM server, checked read-only for
# `doctor` (connectors/certmgmt/connector.py). Each check is made on its own: one failing hides
# no other's answer. $MimbotArgs: bin (the CM web's bin folder). Output: assemblies (name,
# found, loaded, version, error), templates (how many profile templates the account may read,
# or null) with templates_error, ad (whether this session resolved its own account to an AD
# objectGUID, as a search does) with ad_error. Counts and versions only: never a person.
$bin = [string]$MimbotArgs.bin
$assemblies = foreach ($name in 'Microsoft.Clm.Shared', 'Microsoft.Clm.Provision') {
    $path = Join-Path $bin "$name.dll"
    $row = [ordered]@{ name = $name; found = (Test-Path -LiteralPath $path); loaded = $false
                       version = ''; error = '' }
    if ($row.found) {
        try {
            Add-Type -Path $path
            $row.loaded = $true
            $row.version = [Diagnostics.FileVersionInfo]::GetVersionInfo($path).FileVersion
        } catch { $row.error = $_.Exception.GetType().FullName }
    }
    $row
}
$templates = $null
$templatesError = ''
if (@($assemblies | Where-Object { -not $_.loaded }).Count -eq 0) {
    try {
        # FindAllProfileTemplates: "all the profile templates that the caller has permission
        # to read" (FindOperations members, bb468109).
        $templates = @([Microsoft.Clm.Provision.FindOperations]::FindAllProfileTemplates()).Count
    } catch { $templatesError = $_.Exception.GetType().FullName }
}
$ad = $false
$adError = ''
try {
    $me = [Security.Principal.WindowsIdentity]::GetCurrent()
    $entry = [ADSI]"LDAP://<SID=$($me.User.Value)>"
    $ad = $null -ne $entry.Guid
} catch { $adError = $_.Exception.GetType().FullName }
[ordered]@{
    assemblies = @($assemblies); templates = $templates; templates_error = $templatesError
    ad = $ad; ad_error = $adError
}
