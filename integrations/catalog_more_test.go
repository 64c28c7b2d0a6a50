package integrations_test

// moreCatalogCases are the catalog entries added for issue #14, each checked
// against its provider's documentation like catalogCases (the URLs are in
// each entry's sources).
var moreCatalogCases = []catalogCase{
	{typ: "attio", base: "https://api.attio.com/v2", neighbours: []string{"app.attio.com"}},
	{typ: "box", base: "https://api.box.com/2.0", neighbours: []string{"account.box.com"}},
	{typ: "calendly", base: "https://api.calendly.com", neighbours: []string{"auth.calendly.com"}},
	{typ: "close", base: "https://api.close.com/api/v1", neighbours: []string{"app.close.com"}},
}

func init() { catalogCases = append(catalogCases, moreCatalogCases...) }
