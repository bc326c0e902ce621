# One Person, every attribute, and how many Requests target it (their content is not read).
# $MimbotArgs: module, uri, xpath (/Person[ObjectID = '<guid>']), requests_xpath,
# message_size (optional, bytes: Export-FIMConfig -MessageSize, for Persons with a Photo).
# Outputs @{ found; attributes = @{ name = @(strings) }; requests = <count> }.
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
$attributes = @{}
if ($MimbotArgs.module -eq 'lithnetrma') {
    Import-Module LithnetRMA
    Set-ResourceManagementClient -BaseAddress $MimbotArgs.uri
    $person = @(Search-Resources -XPath $MimbotArgs.xpath -ExpectedObjectType Person) | Select-Object -First 1
    if ($person) { $attributes = ConvertFrom-MimbotRmaObject $person }
    $requests = if ($person) { Get-ResourceCount -XPath $MimbotArgs.requests_xpath } else { 0 }
} else {
    if (-not (Get-PSSnapin FIMAutomation -ErrorAction SilentlyContinue)) { Add-PSSnapin FIMAutomation }
    $export = @{ Uri = $MimbotArgs.uri; OnlyBaseResources = $true }
    if ($MimbotArgs.message_size) { $export.MessageSize = [string]$MimbotArgs.message_size }
    $person = @(Export-FIMConfig @export -CustomConfig $MimbotArgs.xpath |
            Where-Object { $_ }) | Select-Object -First 1
    foreach ($a in $person.ResourceManagementObject.ResourceManagementAttributes) {
        $value = if ($a.IsMultiValue) { $a.Values } else { $a.Value }
        $attributes[$a.AttributeName] = ConvertTo-MimbotStrings $value
    }
    $requests = if ($person) {
        @(Export-FIMConfig @export -CustomConfig $MimbotArgs.requests_xpath |
                Where-Object { $_ }).Count
    } else { 0 }
}
@{ found = [bool]$person; attributes = $attributes; requests = [int]$requests }
