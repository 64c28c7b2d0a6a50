package integrations_test

// moreCatalogCases are the catalog entries added for issue #14, each checked
// against its provider's documentation like catalogCases (the URLs are in
// each entry's sources).
var moreCatalogCases = []catalogCase{
	{typ: "attio", base: "https://api.attio.com/v2", neighbours: []string{"app.attio.com"}},
	{typ: "box", base: "https://api.box.com/2.0", neighbours: []string{"account.box.com"}},
	{typ: "calendly", base: "https://api.calendly.com", neighbours: []string{"auth.calendly.com"}},
	{typ: "close", base: "https://api.close.com/api/v1", neighbours: []string{"app.close.com"}},
	{typ: "activecampaign", fields: map[string]string{"account": "123456demo"}, base: "https://123456demo.api-us1.com/api/3",
		sibling: "https://123456demo.api-us1.com/api/3/users/me", neighbours: []string{"api-us1.com", "123456demo.activehosted.com"},
		hostile: map[string]string{"account": "evil.com/"}},
	{typ: "front", base: "https://api2.frontapp.com", neighbours: []string{"app.frontapp.com"}},
	{typ: "helpscout", base: "https://api.helpscout.net/v2", neighbours: []string{"secure.helpscout.net"}},
	{typ: "zohocrm", fields: map[string]string{"api_domain": "https://www.zohoapis.com"}, base: "https://www.zohoapis.com/crm/v6",
		sibling: "https://www.zohoapis.eu/crm/v6/Leads", neighbours: []string{"accounts.zoho.com", "zohoapis.com"},
		hostile: map[string]string{"api_domain": "https://www.zohoapis.com.evil.com"}},
	{typ: "bitbucket", base: "https://api.bitbucket.org/2.0", neighbours: []string{"bitbucket.org"}},
	{typ: "gitlab", base: "https://gitlab.com/api/v4", neighbours: []string{"about.gitlab.com", "gitlab.com.evil.com"}},
	{typ: "sentry", base: "https://sentry.io/api/0", neighbours: []string{"o1.ingest.sentry.io"}},
	{typ: "docusign", fields: map[string]string{"base_uri": "https://na2.docusign.net", "account_id": "a4ec37d6-0000-0000-0000-143885c00000"},
		base: "https://na2.docusign.net/restapi/v2.1/accounts/a4ec37d6-0000-0000-0000-143885c00000", sibling: "https://account.docusign.com/oauth/userinfo",
		neighbours: []string{"docusign.net.evil.com", "docusign.com"},
		hostile:    map[string]string{"base_uri": "https://na2.docusign.net.evil.com"}},
	{typ: "dynamics365", fields: map[string]string{"org": "yourorg", "region": "crm4"}, base: "https://yourorg.api.crm4.dynamics.com/api/data/v9.2",
		neighbours: []string{"login.microsoftonline.com", "dynamics.com.evil.com"},
		hostile:    map[string]string{"org": "evil.com/"}},
	{typ: "miro", base: "https://api.miro.com", neighbours: []string{"miro.com"}},
	{typ: "clickup", base: "https://api.clickup.com/api/v2", neighbours: []string{"app.clickup.com"}},
	{typ: "klaviyo", base: "https://a.klaviyo.com/api", neighbours: []string{"www.klaviyo.com"}},
	{typ: "monday", base: "https://api.monday.com/v2", neighbours: []string{"auth.monday.com"}},
	{typ: "basecamp", fields: map[string]string{"account_id": "999999999"}, base: "https://3.basecampapi.com/999999999",
		sibling: "https://launchpad.37signals.com/authorization.json", neighbours: []string{"basecamp.com", "launchpad.37signals.com.evil.com"}},
	{typ: "square", base: "https://connect.squareup.com/v2", sibling: "https://connect.squareupsandbox.com/v2/locations",
		neighbours: []string{"squareup.com", "squareupsandbox.com"}},
	{typ: "webflow", base: "https://api.webflow.com/v2", neighbours: []string{"webflow.com"}},
	{typ: "brevo", base: "https://api.brevo.com/v3", neighbours: []string{"app.brevo.com"}},
	{typ: "sendgrid", base: "https://api.sendgrid.com/v3", neighbours: []string{"sendgrid.com"}},
	{typ: "microsoftExcel", base: "https://graph.microsoft.com/v1.0", neighbours: []string{"login.microsoftonline.com"}},
	{typ: "microsoftPlanner", base: "https://graph.microsoft.com/v1.0", neighbours: []string{"login.microsoftonline.com"}},
	{typ: "microsoftTodo", base: "https://graph.microsoft.com/v1.0", neighbours: []string{"login.microsoftonline.com"}},
	{typ: "googleTasks", base: "https://tasks.googleapis.com/tasks/v1", neighbours: []string{"accounts.google.com"}},
	{typ: "googledocs", base: "https://docs.googleapis.com/v1", neighbours: []string{"docs.google.com"}},
	{typ: "googleslides", base: "https://slides.googleapis.com/v1", neighbours: []string{"docs.google.com"}},
	{typ: "googleforms", base: "https://forms.googleapis.com/v1", neighbours: []string{"docs.google.com"}},
}

func init() { catalogCases = append(catalogCases, moreCatalogCases...) }
