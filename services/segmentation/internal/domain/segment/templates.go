package segment

// Template is a ready-made segment marketers can create with one click and
// then adjust. The thresholds are starting points for a typical shop.
type Template struct {
	ID          string
	Name        string
	Description string
	Rule        string
}

// Templates lists the ready-made segments. Every rule compiles (a test
// checks it), so creating a segment from a template cannot fail.
var Templates = []Template{
	{
		ID:          "win-back",
		Name:        "Win-back: lapsed high-value customers",
		Description: "Spent well but have not ordered for half a year; worth a win-back offer.",
		Rule:        `lifecycle == "lapsed" && total_spend >= 50000 && order_count >= 2`,
	},
	{
		ID:          "champions",
		Name:        "Champions",
		Description: "Bought recently, often and for a lot; thank them and ask for reviews and referrals.",
		Rule:        `in_rfm_group("Champions")`,
	},
	{
		ID:          "at-risk",
		Name:        "At risk",
		Description: "Good customers who are slipping away: RFM At Risk or Can't Lose Them, or overdue by their own rhythm.",
		Rule:        `in_rfm_group("At Risk") || in_rfm_group("Can't Lose Them") || (lifecycle == "at_risk" && order_count >= 2)`,
	},
	{
		ID:          "high-churn-risk",
		Name:        "High churn risk",
		Description: "Repeat customers the churn model says are probably gone; send a save offer.",
		Rule:        `order_count >= 2 && churn_risk >= 0.8`,
	},
	{
		ID:          "new-customers",
		Name:        "New customers",
		Description: "First order in the last 30 days; onboard them.",
		Rule:        `lifecycle == "new"`,
	},
	{
		ID:          "cart-abandoners",
		Name:        "Cart abandoners",
		Description: "Left a cart unbought; remind them while it is fresh.",
		Rule:        `has_abandoned_cart && consents.?email.orValue(false)`,
	},
	{
		ID:          "detractors",
		Name:        "Unhappy customers",
		Description: "Latest NPS 0–6 or CSAT falling; reach out before they leave.",
		Rule:        `(nps >= 0 && nps <= 6) || csat_trend == "down"`,
	},
	{
		ID:          "frequent-buyers",
		Name:        "Frequent buyers",
		Description: "Three or more orders in the last 90 days.",
		Rule:        `orders.count(days(90)) >= 3`,
	},
}
