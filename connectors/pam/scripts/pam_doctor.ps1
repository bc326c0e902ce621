# Read-only checks of what connectors/pam/connector.py relies on (its `doctor`). Runs inside the
# runner's wrapper (connectors/_shared/powershell.py): what it outputs is `data`. No argument.
# Each part is asked separately, so one that fails hides no other; a failure is reported by its
# error's type only. Nothing about a person is output: counts, versions and domain names.
# Output: module (version, or error), roles (count, or error), source_domains (PAM users per
# SourceDomain, or error), fimautomation (objects read, or error).
$out = [ordered]@{}
try {
    Import-Module MIMPAM
    # A binary module (Microsoft.IdentityManagement.AdminPamCmdlets.dll; PSD's help file name).
    $out.module = [ordered]@{ version = [string](Get-Module MIMPAM).Version }
} catch {
    $out.module = [ordered]@{ error = $_.Exception.GetType().FullName }
}
if ($out.module.Contains('version')) {
    try {
        $out.roles = [ordered]@{ count = @(Get-PAMRole).Count }
    } catch {
        $out.roles = [ordered]@{ error = $_.Exception.GetType().FullName }
    }
    try {
        $domains = [ordered]@{}
        foreach ($g in @(Get-PAMUser | Group-Object -Property { [string]$_.SourceDomain })) {
            $domains[[string]$g.Name] = $g.Count
        }
        $out.source_domains = [ordered]@{ counts = $domains }
    } catch {
        $out.source_domains = [ordered]@{ error = $_.Exception.GetType().FullName }
    }
}
try {
    # What the removal's after-check reads the MIM Service with: one schema object, no person.
    if (-not (Get-PSSnapin FIMAutomation -ErrorAction SilentlyContinue)) { Add-PSSnapin FIMAutomation }
    $schema = @(Export-FIMConfig -Uri 'http://localhost:5725' -OnlyBaseResources `
            -CustomConfig "/ObjectTypeDescription[Name = 'Person']" | Where-Object { $_ })
    $out.fimautomation = [ordered]@{ count = $schema.Count }
} catch {
    $out.fimautomation = [ordered]@{ error = $_.Exception.GetType().FullName }
}
$out
