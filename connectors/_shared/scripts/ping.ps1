# Which host answers, and its PowerShell version: the health check of every WinRM system.
# Runs inside the runner's wrapper (connectors/_shared/powershell.py): what it outputs is `data`.
[ordered]@{
    host       = [Environment]::MachineName
    ps_version = $PSVersionTable.PSVersion.ToString()
}
