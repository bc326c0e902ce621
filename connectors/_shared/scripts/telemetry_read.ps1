# The CEIP (telemetry) registry values of each MIM component on this server, and the
# installed MIM version (mim-facts section 9). Reads only.
# $MimbotArgs: root (the registry path of `...\Forefront Identity Manager\2010`),
# components (subkey names to look at; '' is the root key itself).
# Outputs @{ host; products = @(@{ name; version }); components = @(@{ component; values }) }
# with one entry per component key that exists; `values` maps each value named *CEIP to its
# number (none: the key holds no CEIP value).
$components = @(foreach ($c in @($MimbotArgs.components)) {
    $path = if ($c) { Join-Path $MimbotArgs.root $c } else { $MimbotArgs.root }
    if (Test-Path -LiteralPath $path) {
        $key = Get-Item -LiteralPath $path
        $values = [ordered]@{}
        foreach ($n in $key.GetValueNames()) {
            if ($n -like '*CEIP') { $values[$n] = [int]$key.GetValue($n) }
        }
        [ordered]@{ component = [string]$c; values = $values }
    }
})
$uninstall = @(
    'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\*',
    'HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\*'
)
$products = @(Get-ItemProperty -Path $uninstall -ErrorAction SilentlyContinue |
    Where-Object { $_.DisplayName -like 'Microsoft Identity Manager*' -or
                   $_.DisplayName -like 'Forefront Identity Manager*' } |
    ForEach-Object { [ordered]@{ name = [string]$_.DisplayName; version = [string]$_.DisplayVersion } })
[ordered]@{ host = [Environment]::MachineName; products = $products; components = $components }
