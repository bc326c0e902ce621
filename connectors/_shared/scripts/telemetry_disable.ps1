# Opt out of CEIP (telemetry): every value named *CEIP under each MIM component key that
# exists is set to 0 in the kind it already has, then everything is read back (mim-facts
# section 9). MIMDocs mim-privacy-compliance.md says "set the value to 0", and its screenshot
# shows ServiceandPortalCEIP as a REG_SZ "0": so a REG_SZ gets the string '0' and a
# REG_DWORD the number 0, each written with the kind GetValueKind read (Set-ItemProperty's
# registry -Type); a value of any other kind is left as it is. No value is created.
# $MimbotArgs: root, components (as telemetry_read.ps1).
# Outputs as telemetry_read.ps1, plus `changed`: @(@{ component; name; was; kind }) per value
# set to 0, with its kind before and as read back after.
$changed = @(foreach ($c in @($MimbotArgs.components)) {
    $path = if ($c) { Join-Path $MimbotArgs.root $c } else { $MimbotArgs.root }
    if (Test-Path -LiteralPath $path) {
        $key = Get-Item -LiteralPath $path
        foreach ($n in $key.GetValueNames()) {
            if ($n -like '*CEIP') {
                $kind = $key.GetValueKind($n)
                $zero = switch ([string]$kind) {
                    'String' { '0' }
                    'DWord' { 0 }
                }
                if ($null -ne $zero) {
                    Set-ItemProperty -LiteralPath $path -Name $n -Value $zero -Type $kind
                    [ordered]@{
                        component = [string]$c; name = $n; was = [string]$kind
                        kind = [string](Get-Item -LiteralPath $path).GetValueKind($n)
                    }
                }
            }
        }
    }
})
$components = @(foreach ($c in @($MimbotArgs.components)) {
    $path = if ($c) { Join-Path $MimbotArgs.root $c } else { $MimbotArgs.root }
    if (Test-Path -LiteralPath $path) {
        $key = Get-Item -LiteralPath $path
        $values = @(foreach ($n in $key.GetValueNames()) {
            if ($n -like '*CEIP') {
                [ordered]@{
                    name = $n
                    kind = [string]$key.GetValueKind($n)
                    data = $key.GetValue($n, $null,
                        [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
                }
            }
        })
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
[ordered]@{
    host = [Environment]::MachineName; products = $products; components = $components
    changed = $changed
}
