# What PAM holds, for the data map (connectors/pam/connector.py `inventory`): the MIMPAM
# module's version and how many PAM users there are. Runs inside the runner's wrapper
# (connectors/_shared/powershell.py): what it outputs is `data`. No argument. Read-only:
# Get-PAMUser with no filter lists every PAM user (PSD Get-PAMUser.md), and only their count
# leaves the server; a failure to list them is reported by its error's type only, and a
# module that does not load fails the whole script.
# Output: version, users (count, or error).
Import-Module MIMPAM
# A binary module (Microsoft.IdentityManagement.AdminPamCmdlets.dll), as pam_doctor.ps1 reads it.
$out = [ordered]@{ version = [string](Get-Module MIMPAM).Version }
try {
    $out.users = [ordered]@{ count = @(Get-PAMUser).Count }
} catch {
    $out.users = [ordered]@{ error = $_.Exception.GetType().FullName }
}
$out
