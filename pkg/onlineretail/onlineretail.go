// Package onlineretail reads the UCI Online Retail datasets (Chen, 2015 and
// 2012; CC BY 4.0; https://doi.org/10.24432/C5BW33), real invoice lines of a
// UK online gift retailer that the platform uses for its demo, benchmarks
// and evaluations. It parses both published layouts (Online Retail and the
// Online Retail II sheets), gzip or plain CSV, into typed rows with prices in
// integer pence, groups them into invoices, tells products from postage and
// fees, derives a category for each product from its description, and
// matches cancellation invoices to the orders they cancel.
//
// The data itself is not part of the repository: CI reads it from
// ../shared/datasets/online-retail/, elsewhere download it from
// https://archive.ics.uci.edu/dataset/352/online+retail.
package onlineretail

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Currency is the currency of every price in the datasets.
const Currency = "GBP"

// Row is one invoice line as published.
type Row struct {
	// Invoice is the invoice number; a leading "C" marks a cancellation and
	// "A" a bad-debt adjustment.
	Invoice string
	// StockCode is the product code, or a code for postage, fees and
	// adjustments (see IsProduct).
	StockCode string
	// Description is the product name, with its published spacing trimmed.
	Description string
	// Quantity is negative for returns and cancellations.
	Quantity int64
	// Time is the invoice time in UK local time.
	Time time.Time
	// UnitPriceMinor is the unit price in pence.
	UnitPriceMinor int64
	// CustomerID is empty for anonymous sales.
	CustomerID string
	// Country is the customer's country.
	Country string
}

// IsCancellation reports whether the row belongs to a cancellation invoice.
func (r Row) IsCancellation() bool { return strings.HasPrefix(r.Invoice, "C") }

// IsAdjustment reports whether the row is a bad-debt adjustment.
func (r Row) IsAdjustment() bool { return strings.HasPrefix(r.Invoice, "A") }

// ukTime is where the invoice times were recorded.
var ukTime = func() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		// No time zone database on the machine: the data's dates fall in
		// GMT and BST; UTC is off by at most an hour in summer.
		return time.UTC
	}
	return loc
}()

// layout maps one published header to column positions and a date format.
type layout struct {
	invoice, stock, desc, qty, date, price, customer, country int
	dateFormat                                                string
}

var layouts = []struct {
	header []string
	layout
}{
	{
		header: []string{"InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"},
		layout: layout{0, 1, 2, 3, 4, 5, 6, 7, "1/2/2006 15:04"},
	},
	{
		header: []string{"Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"},
		layout: layout{0, 1, 2, 3, 4, 5, 6, 7, "2006-01-02 15:04:05"},
	},
}

// Each reads the dataset at path (.csv or .csv.gz, either layout) and calls
// fn for every row in file order. It stops at the first error of fn or of
// the file, naming the line.
func Each(path string, fn func(Row) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("onlineretail: %w", err)
	}
	defer f.Close()
	var in io.Reader = bufio.NewReaderSize(f, 1<<20)
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(in)
		if err != nil {
			return fmt.Errorf("onlineretail: %s: %w", path, err)
		}
		defer gz.Close()
		in = gz
	}
	return read(in, filepath.Base(path), fn)
}

func read(in io.Reader, name string, fn func(Row) error) error {
	r := csv.NewReader(in)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("onlineretail: %s: header: %w", name, err)
	}
	var lay *layout
	for i := range layouts {
		if equalFold(header, layouts[i].header) {
			lay = &layouts[i].layout
		}
	}
	if lay == nil {
		return fmt.Errorf("onlineretail: %s: unknown header %q", name, strings.Join(header, ","))
	}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("onlineretail: %s: %w", name, err)
		}
		row, err := parse(rec, lay)
		if err != nil {
			return fmt.Errorf("onlineretail: %s line %d: %w", name, line, err)
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

func equalFold(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(strings.TrimSpace(a[i]), b[i]) {
			return false
		}
	}
	return true
}

func parse(rec []string, lay *layout) (Row, error) {
	qty, err := strconv.ParseInt(rec[lay.qty], 10, 64)
	if err != nil {
		return Row{}, fmt.Errorf("column Quantity %q: %w", rec[lay.qty], err)
	}
	t, err := parseDate(rec[lay.date], lay.dateFormat)
	if err != nil {
		return Row{}, fmt.Errorf("column InvoiceDate %q: %w", rec[lay.date], err)
	}
	price, err := Pence(rec[lay.price])
	if err != nil {
		return Row{}, fmt.Errorf("column UnitPrice %q: %w", rec[lay.price], err)
	}
	return Row{
		Invoice:        rec[lay.invoice],
		StockCode:      rec[lay.stock],
		Description:    strings.TrimSpace(rec[lay.desc]),
		Quantity:       qty,
		Time:           t,
		UnitPriceMinor: price,
		CustomerID:     customerID(rec[lay.customer]),
		Country:        rec[lay.country],
	}, nil
}

// otherDateFormats are layouts spreadsheet exports of the published
// workbooks write, tried after the layout's own.
var otherDateFormats = []string{"1/2/2006 15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "1/2/06 15:04", "2/1/2006 15:04"}

func parseDate(s, primary string) (time.Time, error) {
	t, err := time.ParseInLocation(primary, s, ukTime)
	if err == nil {
		return t, nil
	}
	for _, f := range otherDateFormats {
		if t, ferr := time.ParseInLocation(f, s, ukTime); ferr == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// customerID drops the ".0" some copies of the II sheet carry.
func customerID(s string) string {
	s = strings.TrimSpace(s)
	return strings.TrimSuffix(s, ".0")
}

// Pence converts a decimal pound amount ("2.55", "-11062.06", "0.001") to
// pence, rounding half away from zero, without going through floating point.
func Pence(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty")
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" {
		whole = "0"
	}
	for _, c := range whole {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("not a decimal number")
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, err
	}
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("not a decimal number")
		}
	}
	frac += "000"
	p, _ := strconv.ParseInt(frac[:2], 10, 64)
	if frac[2] >= '5' {
		p++
	}
	v := w*100 + p
	if neg {
		v = -v
	}
	return v, nil
}

// IsProduct reports whether a stock code is a product rather than postage,
// a fee, a manual line, a discount, samples, a gift voucher or an adjustment.
func IsProduct(stockCode string) bool {
	code := strings.ToUpper(strings.TrimSpace(stockCode))
	switch code {
	case "POST", "DOT", "M", "C2", "D", "S", "B", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS",
		"ADJUST", "ADJUST2", "TEST001", "TEST002", "":
		return false
	}
	return !strings.HasPrefix(code, "GIFT_")
}
