# Resources matching a FIM XPath filter that connectors/mimservice/connector.py built (data, never code).
# $MimbotArgs: module ('fimautomation' | 'lithnetrma'), uri, xpath, attributes (LithnetRMA
# fetches only these; Export-FIMConfig returns all), max.
# Outputs @{ id; attributes = @{ name = @(values as strings, dates as ISO UTC) } } per object.
function ConvertTo-MimbotStrings($Value) {
    , @(foreach ($v in @($Value)) {
            if ($null -eq $v) { continue }
            if ($v -is [datetime]) { $v.ToUniversalTime().ToString('o') } else { [string]$v }
        })
}
$found = @(if ($MimbotArgs.module -eq 'lithnetrma') {
    Import-Module LithnetRMA
    Set-ResourceManagementClient -BaseAddress $MimbotArgs.uri
    $results = Search-Resources -XPath $MimbotArgs.xpath -AttributesToGet $MimbotArgs.attributes `
        -MaxResults $MimbotArgs.max
    foreach ($r in $results) {
        $attributes = @{}
        foreach ($a in $r.Attributes) {
            if (-not $a.IsNull) { $attributes[$a.AttributeName] = ConvertTo-MimbotStrings $a.Values }
        }
        @{ id = [string]$r.ObjectID; attributes = $attributes }
    }
} else {
    if (-not (Get-PSSnapin FIMAutomation -ErrorAction SilentlyContinue)) { Add-PSSnapin FIMAutomation }
    $export = Export-FIMConfig -Uri $MimbotArgs.uri -OnlyBaseResources -CustomConfig $MimbotArgs.xpath
    foreach ($o in @($export) | Where-Object { $_ } | Select-Object -First $MimbotArgs.max) {
        $rmo = $o.ResourceManagementObject
        $attributes = @{}
        foreach ($a in $rmo.ResourceManagementAttributes) {
            $value = if ($a.IsMultiValue) { $a.Values } else { $a.Value }
            $attributes[$a.AttributeName] = ConvertTo-MimbotStrings $value
        }
        @{ id = [string]$rmo.ObjectIdentifier; attributes = $attributes }
    }
})
, $found  # the comma keeps an array of one (or none) an array
