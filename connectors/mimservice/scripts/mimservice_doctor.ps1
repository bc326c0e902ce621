# Read-only checks for `python -m bot doctor`: the module loads (and its version), the
# retention configuration is readable, and which attributes the schema binds to Person.
# Reads no Person. Each part reports its own error, so one fault never hides the others.
# $MimbotArgs: module, uri, retention_xpath (/SystemResourceRetentionConfiguration),
# bindings_xpath (the BindingDescriptions of Person, as MIMDSC's Test-MimSvcTargetResource.ps1
# finds bindings), types_xpath (/AttributeTypeDescription).
# Outputs @{ module = @{ loaded; version; error }; retention = @{ periods; error };
# schema = @{ person = @(attribute names); error } }.
function Get-MimbotError($Record) { "$($Record.Exception.GetType().FullName): $($Record.Exception.Message)" }
function Get-MimbotId($Value) { ([string]$Value).ToLowerInvariant() -replace '^urn:uuid:', '' }
$lithnet = $MimbotArgs.module -eq 'lithnetrma'
try {
    if ($lithnet) {
        Import-Module LithnetRMA
        $version = [string](Get-Module LithnetRMA).Version
        Set-ResourceManagementClient -BaseAddress $MimbotArgs.uri
    } else {
        if (-not (Get-PSSnapin FIMAutomation -ErrorAction SilentlyContinue)) { Add-PSSnapin FIMAutomation }
        $version = [string](Get-PSSnapin FIMAutomation).Version
    }
} catch {
    return @{ module = @{ loaded = $false; error = Get-MimbotError $_ } }
}
function Find-MimbotObjects($XPath, $Names) {
    # Each object as @{ id; <name> = @(values as strings) }; attributes are an RmaObject's own
    # properties (RmaObject.cs LoadProperties), or an ExportObject's ResourceManagementAttributes.
    if ($lithnet) {
        foreach ($r in Search-Resources -XPath $XPath -AttributesToGet $Names) {
            $o = @{ id = Get-MimbotId $r.ObjectID }
            foreach ($n in $Names) { $o[$n] = @(foreach ($v in @($r.$n)) { if ($null -ne $v) { [string]$v } }) }
            $o
        }
    } else {
        $export = Export-FIMConfig -Uri $MimbotArgs.uri -OnlyBaseResources -CustomConfig $XPath
        foreach ($e in @($export) | Where-Object { $_ }) {
            $rmo = $e.ResourceManagementObject
            $o = @{ id = Get-MimbotId $rmo.ObjectIdentifier }
            foreach ($a in $rmo.ResourceManagementAttributes) {
                if ($Names -contains $a.AttributeName) {
                    $value = if ($a.IsMultiValue) { $a.Values } else { $a.Value }
                    $o[$a.AttributeName] = @(foreach ($v in @($value)) { if ($null -ne $v) { [string]$v } })
                }
            }
            $o
        }
    }
}
try {
    $periods = @(foreach ($c in Find-MimbotObjects $MimbotArgs.retention_xpath @('RetentionPeriod')) {
        foreach ($p in @($c.RetentionPeriod)) { [int]$p }
    })
    $retention = @{ periods = $periods }
} catch { $retention = @{ periods = @(); error = Get-MimbotError $_ } }
try {
    $bound = @(foreach ($b in Find-MimbotObjects $MimbotArgs.bindings_xpath @('BoundAttributeType')) {
        foreach ($t in @($b.BoundAttributeType)) { Get-MimbotId $t }
    })
    $names = @(foreach ($t in Find-MimbotObjects $MimbotArgs.types_xpath @('Name')) {
        if ($bound -contains $t.id) { @($t.Name)[0] }
    })
    $schema = @{ person = $names }
} catch { $schema = @{ person = @(); error = Get-MimbotError $_ } }
@{ module = @{ loaded = $true; version = $version }; retention = $retention; schema = $schema }
