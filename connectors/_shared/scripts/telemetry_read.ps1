# The CEIP (telemetry) registry values of each MIM component on this server, and the
# installed MIM version (mim-facts section 9). Reads only.
# $MimbotArgs: root (the registry path of `...\Forefront Identity Manager\2010`),
# components (subkey names to look at; '' is the root key itself).
# Outputs @{ host; products = @(@{ name; version }); components = @(@{ component; values })
# } with one entry per component key that exists; `values` lists each value named *CEIP as
# @{ name; kind; data }: its RegistryValueKind's name and its data as stored, not converted
# (ServiceandPortalCEIP is a REG_SZ "0" in MIMDocs mim-privacy-compliance.md's screenshot,
# and a cast of a string that is no number would fail the script under ErrorAction Stop).
$components = @(foreach ($c in @($MimbotArgs.components)) {
    $path = if ($c) { Join-Path $MimbotArgs.root $c } else { $MimbotArgs.root }
    if (Test-Path -LiteralPath $path) {
        $key = Get-Item -LiteralPath $path
        $values = @(foreach ($n in $key.GetValueNames()) {
            if ($n -like '*CEIP') {
                [ordered]@{
                    name = $n
                    # ConvertTo-Json in 5.1 writes an enum as its number: send its name.
                    kind = [string]$key.GetValueKind($n)
                    data = $key.GetValue($n, $null,
                        [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
                }
            }
        })
        [ordered]@{ component = [string]$c; values = $values }
    }
})
# Which DisplayNames MIM's installers register is unverified (mim-apis-checked 8.7): none
# found means "version not found", never "not installed".
$uninstall = @(
    'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\*',
    'HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\*'
)
$products = @(Get-ItemProperty -Path $uninstall -ErrorAction SilentlyContinue |
    Where-Object { $_.DisplayName -like 'Microsoft Identity Manager*' -or
                   $_.DisplayName -like 'Forefront Identity Manager*' } |
    ForEach-Object { [ordered]@{ name = [string]$_.DisplayName; version = [string]$_.DisplayVersion } })
[ordered]@{ host = [Environment]::MachineName; products = $products; components = $components }
