# Opt out of CEIP (telemetry): every value named *CEIP under each MIM component key that
# exists is set to 0 (DWORD), then everything is read back (mim-facts section 9). No value is
# created: a component key without a CEIP value is reported as it is.
# $MimbotArgs: root, components (as telemetry_read.ps1).
# Outputs as telemetry_read.ps1, plus `changed`: the "<component>\<value>" names set to 0.
$changed = @(foreach ($c in @($MimbotArgs.components)) {
    $path = if ($c) { Join-Path $MimbotArgs.root $c } else { $MimbotArgs.root }
    if (Test-Path -LiteralPath $path) {
        foreach ($n in (Get-Item -LiteralPath $path).GetValueNames()) {
            if ($n -like '*CEIP') {
                Set-ItemProperty -LiteralPath $path -Name $n -Value 0 -Type DWord
                "$c\$n"
            }
        }
    }
})
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
[ordered]@{ host = [Environment]::MachineName; products = $products; components = $components; changed = $changed }
