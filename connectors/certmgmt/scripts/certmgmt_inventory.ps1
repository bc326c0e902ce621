# What Certificate Management is, for the data map (connectors/certmgmt/connector.py
# `inventory`): the version of the CM provisioning assembly in the CM web's bin folder, read
# from the file (FileVersionInfo), without loading it or calling CM. Read-only; reads no
# person: the provisioning API documents no count of CM users (FindOperations, bb468109), so
# none is asked for. $MimbotArgs: bin (the CM web's bin folder).
# Outputs @{ found (whether Microsoft.Clm.Provision.dll is there); version (its FileVersion) }.
$path = Join-Path ([string]$MimbotArgs.bin) 'Microsoft.Clm.Provision.dll'
$found = Test-Path -LiteralPath $path
$version = if ($found) { [string][Diagnostics.FileVersionInfo]::GetVersionInfo($path).FileVersion } else { '' }
[ordered]@{ found = $found; version = $version }
