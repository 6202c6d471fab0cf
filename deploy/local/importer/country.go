package importer

// countryCodes maps the country names the Online Retail files use to ISO
// 3166-1 alpha-2 codes, which is what commerce.v1.Customer.country carries.
// Names that are no single country ("European Community", "Channel
// Islands", "West Indies", "Unspecified") have no code: the customer event
// then leaves the country out rather than inventing one.
var countryCodes = map[string]string{
	"Australia": "AU", "Austria": "AT", "Bahrain": "BH", "Belgium": "BE", "Bermuda": "BM",
	"Brazil": "BR", "Canada": "CA", "Cyprus": "CY", "Czech Republic": "CZ", "Denmark": "DK",
	"EIRE": "IE", "Finland": "FI", "France": "FR", "Germany": "DE", "Greece": "GR",
	"Hong Kong": "HK", "Iceland": "IS", "Israel": "IL", "Italy": "IT", "Japan": "JP",
	"Korea": "KR", "Lebanon": "LB", "Lithuania": "LT", "Malta": "MT", "Netherlands": "NL",
	"Nigeria": "NG", "Norway": "NO", "Poland": "PL", "Portugal": "PT", "RSA": "ZA",
	"Saudi Arabia": "SA", "Singapore": "SG", "Spain": "ES", "Sweden": "SE", "Switzerland": "CH",
	"Thailand": "TH", "USA": "US", "United Arab Emirates": "AE", "United Kingdom": "GB",
}

// countryCode is the ISO code of a dataset country name, or "" when the
// name is not one country.
func countryCode(name string) string { return countryCodes[name] }
