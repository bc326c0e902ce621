# Which host answers, and its PowerShell version: the health check of every WinRM system.
# Runs inside the runner's wrapper (connectors/_shared/powershell.py): what it outputs is `data`.
[ordered]@{
    host       = [Environment]::MachineName
    ps_version = $PSVersionTable.PSVersion.ToString()
    # "Desktop" is Windows PowerShell (5.1); "Core" is PowerShell 7, which has no snap-ins.
    ps_edition = [string]$PSVersionTable.PSEdition
}
