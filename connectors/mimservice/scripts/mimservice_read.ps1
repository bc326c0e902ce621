# One Person, every attribute, and how many Requests target it (their content is not read).
# $MimbotArgs: module, uri, xpath (/Person[ObjectID = '<guid>']), requests_xpath.
# Outputs @{ found; attributes = @{ name = @(strings) }; requests = <count> }.
function ConvertTo-MimbotStrings($Value) {
    , @(foreach ($v in @($Value)) {
            if ($null -eq $v) { continue }
            if ($v -is [datetime]) { $v.ToUniversalTime().ToString('o') } else { [string]$v }
        })
}
$attributes = @{}
if ($MimbotArgs.module -eq 'lithnetrma') {
    Import-Module LithnetRMA
    Set-ResourceManagementClient -BaseAddress $MimbotArgs.uri
    $person = @(Search-Resources -XPath $MimbotArgs.xpath -ExpectedObjectType Person) | Select-Object -First 1
    foreach ($a in $person.Attributes) {
        if (-not $a.IsNull) { $attributes[$a.AttributeName] = ConvertTo-MimbotStrings $a.Values }
    }
    $requests = if ($person) { Get-ResourceCount -XPath $MimbotArgs.requests_xpath } else { 0 }
} else {
    if (-not (Get-PSSnapin FIMAutomation -ErrorAction SilentlyContinue)) { Add-PSSnapin FIMAutomation }
    $person = @(Export-FIMConfig -Uri $MimbotArgs.uri -OnlyBaseResources -CustomConfig $MimbotArgs.xpath |
            Where-Object { $_ }) | Select-Object -First 1
    foreach ($a in $person.ResourceManagementObject.ResourceManagementAttributes) {
        $value = if ($a.IsMultiValue) { $a.Values } else { $a.Value }
        $attributes[$a.AttributeName] = ConvertTo-MimbotStrings $value
    }
    $requests = if ($person) {
        @(Export-FIMConfig -Uri $MimbotArgs.uri -OnlyBaseResources -CustomConfig $MimbotArgs.requests_xpath |
                Where-Object { $_ }).Count
    } else { 0 }
}
@{ found = [bool]$person; attributes = $attributes; requests = [int]$requests }
