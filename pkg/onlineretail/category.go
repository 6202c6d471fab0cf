package onlineretail

import "strings"

// The dataset has no categories. categoryRules derive one from words in the
// product description, first match wins, so that category-based features
// (segments such as "bought garden items", category filters, upsell within a
// category) have something real to work on. Seasonal words come first: a
// "CHRISTMAS CANDLE" is Christmas stock before it is a candle.
var categoryRules = []struct {
	path  []string
	words []string
}{
	{[]string{"seasonal", "christmas"}, []string{"CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "NATIVITY", "SNOWMAN"}},
	{[]string{"seasonal", "easter"}, []string{"EASTER"}},
	{[]string{"seasonal", "halloween"}, []string{"HALLOWEEN"}},
	{[]string{"garden"}, []string{"GARDEN", "PLANT", "FLOWER POT", "WATERING CAN", "BIRD", "HERB", "SEED", "TRELLIS", "PLANTER", "GNOME"}},
	{[]string{"home", "lighting"}, []string{"CANDLE", "T-LIGHT", "TEA LIGHT", "TLIGHT", "LANTERN", "LAMP", "LIGHTS", "NIGHT LIGHT"}},
	{[]string{"party"}, []string{"PARTY", "BUNTING", "BALLOON", "CAKE CASES", "CUPCAKE CASES", "DOILY", "DOILIES", "CANDLES IN", "PAPER CHAIN"}},
	{[]string{"kitchen", "baking"}, []string{"BAKING", "CAKE", "JELLY MOULD", "COOKIE CUTTER", "CAKESTAND", "CAKE STAND"}},
	{[]string{"kitchen", "dining"}, []string{"MUG", "CUP", "SAUCER", "PLATE", "BOWL", "JUG", "TEAPOT", "SPOON", "CUTLERY", "NAPKIN", "COASTER", "TRAY", "EGG", "GLASS", "BEAKER", "PLACEMAT", "STRAW"}},
	{[]string{"kitchen", "storage"}, []string{"LUNCH BOX", "LUNCHBOX", "JAR", "STORAGE TIN", "BREAD BIN", "CANISTER", "BISCUIT TIN", "TIN", "BOX"}},
	{[]string{"kitchen", "textiles"}, []string{"APRON", "TEA TOWEL", "OVEN GLOVE"}},
	{[]string{"bags"}, []string{"BAG", "TOTE", "SHOPPER", "PURSE", "WASHBAG", "RUCKSACK"}},
	{[]string{"stationery"}, []string{"CARD", "WRAP", "NOTEBOOK", "PENCIL", "PEN ", "STICKER", "ENVELOPE", "TAPE", "JOURNAL", "NOTE BOOK", "DIARY", "ERASER", "RULER", "CALENDAR", "PAPER", "GIFT TAG", "RIBBON"}},
	{[]string{"toys"}, []string{"TOY", "DOLL", "GAME", "PUZZLE", "JIGSAW", "SKIPPING ROPE", "SPACEBOY", "CHILDREN", "CHILDS", "KIDS", "BABY", "DOMINOES", "MARBLES", "SOLDIER"}},
	{[]string{"accessories"}, []string{"NECKLACE", "BRACELET", "EARRINGS", "RING", "HAIR", "BROOCH", "UMBRELLA", "GLOVES", "SCARF", "WALLET", "KEY RING", "KEYRING", "CHARM", "BEADS"}},
	{[]string{"home", "bath"}, []string{"SOAP", "BATH", "TOILET", "SPONGE"}},
	{[]string{"home", "textiles"}, []string{"CUSHION", "BLANKET", "THROW", "HOT WATER BOTTLE", "QUILT", "TOWEL"}},
	{[]string{"home", "decor"}, []string{"HEART", "SIGN", "FRAME", "CLOCK", "MIRROR", "ORNAMENT", "HANGING", "DECORATION", "VASE", "WREATH", "DOORSTOP", "DOORMAT", "HOOK", "HANGER", "KNOB", "BUNNY", "GARLAND", "PLAQUE", "STAND", "HOLDER", "CANDLESTICK", "BASKET"}},
}

// Category derives a category path (most general first) from a product
// description; descriptions no rule matches are ["other"].
func Category(description string) []string {
	d := " " + strings.ToUpper(description) + " "
	for _, r := range categoryRules {
		for _, w := range r.words {
			if strings.Contains(d, w) {
				return r.path
			}
		}
	}
	return []string{"other"}
}

// consumableWords mark products that are used up and bought again (candles,
// wrap, cards, cake cases), as opposed to durable goods bought once.
var consumableWords = []string{
	"CANDLE", "T-LIGHT", "TEA LIGHT", "NAPKIN", "WRAP", "CARD", "CASES", "SOAP", "TISSUE", "STICKER",
	"PAPER", "CHOCOLATE", "SWEETS", "MATCHES", "INCENSE", "BALLOON", "DOILY", "DOILIES", "ENVELOPE", "TAPE",
	"GIFT TAG", "RIBBON", "STRAW", "SEED",
}

// Consumable reports whether a product is one customers use up and buy
// again, which replenishment reminders and buy-again recommendations need.
func Consumable(description string) bool {
	d := strings.ToUpper(description)
	for _, w := range consumableWords {
		if strings.Contains(d, w) {
			return true
		}
	}
	return false
}
