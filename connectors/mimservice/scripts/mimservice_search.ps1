# Resources matching a FIM XPath filter that connectors/mimservice/connector.py built (data, never code).
# $MimbotArgs: module ('fimautomation' | 'lithnetrma'), uri, xpath, attributes (LithnetRMA
# fetches only these; Export-FIMConfig returns all), max, message_size (optional, bytes).
# Outputs @{ id; attributes = @{ name = @(values as strings, dates as ISO UTC) } } per object.
function ConvertTo-MimbotStrings($Value) {
    , @(foreach ($v in @($Value)) {
            if ($null -eq $v) { continue }
            if ($v -is [datetime]) { $v.ToUniversalTime().ToString('o') } else { [string]$v }
        })
}
# LithnetRMA's cmdlets output RmaObject, a PSObject whose note properties ARE the attributes
# (lithnet/resourcemanagement-powershell RmaObject.cs, LoadProperties): it has no .Attributes.
# A multi-valued attribute is an AttributeValueArrayList (unrolled by @()), a reference a
# UniqueIdentifier ("urn:uuid:<guid>"), an attribute without a value $null (skipped).
function ConvertFrom-MimbotRmaObject($Resource) {
    $attributes = @{}
    foreach ($p in $Resource.PSObject.Properties) {
        if ($null -eq $p.Value) { continue }
        $strings = ConvertTo-MimbotStrings $p.Value
        if ($strings.Count) { $attributes[$p.Name] = $strings }
    }
    $attributes
}
$found = @(if ($MimbotArgs.module -eq 'lithnetrma') {
    Import-Module LithnetRMA
    Set-ResourceManagementClient -BaseAddress $MimbotArgs.uri
    $results = Search-Resources -XPath $MimbotArgs.xpath -AttributesToGet $MimbotArgs.attributes `
        -MaxResults $MimbotArgs.max
    foreach ($r in $results) {
        @{ id = [string]$r.ObjectID; attributes = ConvertFrom-MimbotRmaObject $r }
    }
} else {
    if (-not (Get-PSSnapin FIMAutomation -ErrorAction SilentlyContinue)) { Add-PSSnapin FIMAutomation }
    $export = @{ Uri = $MimbotArgs.uri; OnlyBaseResources = $true; CustomConfig = $MimbotArgs.xpath }
    if ($MimbotArgs.message_size) { $export.MessageSize = [string]$MimbotArgs.message_size }
    foreach ($o in @(Export-FIMConfig @export) | Where-Object { $_ } | Select-Object -First $MimbotArgs.max) {
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
