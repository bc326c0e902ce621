# Resources matching a FIM XPath filter that connectors/mimservice/connector.py built (data, never code).
# $MimbotArgs: module ('fimautomation' | 'lithnetrma'), uri, xpath, attributes (LithnetRMA
# fetches only these; Export-FIMConfig returns all), max, message_size (optional, bytes);
# records and requests_xpath (optional, both or neither: see the end).
# Outputs @{ id; attributes = @{ name = @(values as strings, dates as ISO UTC) } } per object,
# and with records `requests` (a count) on each object it read as mimservice_read.ps1 does.
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
# search_records (find and read in one call): when at most `records` Persons were found, each
# also gets `requests`, how many Requests target it, and with LithnetRMA every attribute, not
# only `attributes` (Export-FIMConfig returned every one already): what mimservice_read.ps1
# gives for that Person, in this one call. requests_xpath is the connector's Request filter
# with {0} for the Target: only the Person's ObjectID, cast to [guid], is put there. A Person
# whose part fails comes without `requests`: the connector then reads it with
# mimservice_read.ps1, which reports that error as a read does.
if ($MimbotArgs.records -and $found.Count -le [int]$MimbotArgs.records) {
    $every = @{}
    if ($MimbotArgs.module -eq 'lithnetrma') {
        try {
            $all = Search-Resources -XPath $MimbotArgs.xpath -ExpectedObjectType Person `
                -MaxResults $MimbotArgs.max
            foreach ($r in @($all)) { $every[[string]$r.ObjectID] = ConvertFrom-MimbotRmaObject $r }
        } catch { $every = @{} }
    }
    foreach ($o in $found) {
        try {
            $target = ([guid](([string]$o.id) -replace '^urn:uuid:', '')).ToString()
            $filter = $MimbotArgs.requests_xpath -f $target
            if ($MimbotArgs.module -eq 'lithnetrma') {
                if (-not $every.ContainsKey($o.id)) { continue }
                $requests = Get-ResourceCount -XPath $filter
            } else {
                $requests = @(Export-FIMConfig @export -CustomConfig $filter | Where-Object { $_ }).Count
            }
        } catch { continue }
        if ($every.ContainsKey($o.id)) { $o.attributes = $every[$o.id] }
        $o.requests = [int]$requests
    }
}
, $found  # the comma keeps an array of one (or none) an array
