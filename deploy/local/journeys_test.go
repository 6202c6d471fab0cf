package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/onlineretail"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	referralv1 "github.com/affinity-platform/affinity/proto/referral/v1"
	segmentationv1 "github.com/affinity-platform/affinity/proto/segmentation/v1"
	"github.com/affinity-platform/affinity/proto/topics"
)

// platform is one running local stack shared by the journey tests, started
// by the same code as `make run` on free ports in a temporary data dir.
type platform struct {
	st    *stack
	cfg   Config
	entry string
	out   *syncBuffer
}

var (
	sharedOnce     sync.Once
	shared         *platform
	sharedErr      error
	sharedShutdown func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedShutdown != nil {
		sharedShutdown()
	}
	os.Exit(code)
}

// running starts the shared stack on first use.
func running(t testing.TB) *platform {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the whole platform")
	}
	sharedOnce.Do(func() {
		dataDir, err := os.MkdirTemp("", "affinity-journeys-")
		if err != nil {
			sharedErr = err
			return
		}
		if err := os.Chmod(dataDir, 0o755); err != nil {
			sharedErr = err
			return
		}
		cfg := Config{
			DataDir:      dataDir,
			PostgresPort: freePort(t),
			KafkaAddr:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			EntryAddr:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			PortOffset:   freeOffset(t),
			LogLevel:     "warn",
			Currency:     "GBP",
		}
		out := &syncBuffer{}
		st, cfg, err := startOnFreePorts(t, cfg, out)
		if err != nil {
			sharedErr = fmt.Errorf("start: %w\n%s", err, out)
			_ = os.RemoveAll(dataDir)
			return
		}
		shared = &platform{st: st, cfg: cfg, entry: "http://" + cfg.EntryAddr, out: out}
		sharedShutdown = func() {
			st.shutdown()
			_ = os.RemoveAll(dataDir)
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func (p *platform) token(t testing.TB, sub string, roles ...auth.Role) string {
	t.Helper()
	tok, err := auth.Sign(p.st.secret, auth.Claims{Subject: sub, Roles: roles, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call sends a REST request through the entry and decodes a 200 answer into
// resp; it returns the status and body for other answers.
func (p *platform) call(t testing.TB, method, path, token string, body proto.Message, resp proto.Message) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := protojson.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.entry+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK && resp != nil {
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, resp); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return res.StatusCode, string(raw)
}

// publish writes commerce events to Kafka as an order system would.
func (p *platform) publish(t testing.TB, evs ...events.Event) {
	t.Helper()
	w := events.NewWriter(p.st.brokers)
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ev := range evs {
		m, err := events.Encode(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMessages(ctx, m); err != nil {
			t.Fatalf("publish %s: %v", ev.Topic, err)
		}
	}
}

// eventually polls check until it reports true. The platform is eventually
// consistent across services; the limit is generous because CI machines are
// slow, and it bounds a wait, not a speed.
func eventually(t testing.TB, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := check()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: never happened; last state: %s", what, last)
}

func gbp(minor int64) *commercev1.Money {
	return &commercev1.Money{AmountMinor: minor, Currency: "GBP"}
}

// uniqueID makes ids that no other test or run uses.
func uniqueID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

func completedOrder(orderID, customerID string, at time.Time, lines ...*commercev1.OrderLine) events.Event {
	var total int64
	for i, l := range lines {
		l.LineId = fmt.Sprintf("L%d", i+1)
		total += l.GetQuantity() * l.GetUnitPrice().GetAmountMinor()
	}
	return events.Event{
		Topic: topics.CommerceOrders, Source: "journey-test", Subject: customerID, Time: at,
		Payload: &commercev1.OrderEvent{
			Kind: commercev1.OrderEvent_KIND_COMPLETED, OrderId: orderID, CustomerId: customerID,
			Channel: commercev1.Channel_CHANNEL_WEB, Lines: lines,
			Totals:    &commercev1.OrderTotals{Subtotal: gbp(total), Total: gbp(total)},
			OrderedAt: timestamppb.New(at), OccurredAt: timestamppb.New(at),
		},
	}
}

func line(product, category string, qty, price int64) *commercev1.OrderLine {
	return &commercev1.OrderLine{Sku: product, ProductId: product, CategoryPath: strings.Split(category, "/"), Quantity: qty, UnitPrice: gbp(price)}
}

// Journey 1 and 3: an order completes and every service reflects it; a full
// refund takes it back again.
func TestJourneyAnOrderEarnsPointsUpdatesTheProfileAndARefundTakesThemBack(t *testing.T) {
	p := running(t)
	customer := uniqueID("cust")
	order := uniqueID("order")
	now := time.Now().UTC()
	custTok := p.token(t, customer, auth.RoleCustomer)
	svcTok := p.token(t, "journey-test", auth.RoleService)

	// The catalog first, as a shop's catalog system publishes it.
	for _, pr := range []*commercev1.Product{
		{ProductId: "J-TROWEL", Sku: "J-TROWEL", Title: "Hand trowel", CategoryPath: []string{"home", "garden"}, Price: gbp(1250),
			StockStatus: commercev1.StockStatus_STOCK_STATUS_IN_STOCK, Durability: commercev1.Durability_DURABILITY_DURABLE},
		{ProductId: "J-GLOVES", Sku: "J-GLOVES", Title: "Garden gloves", CategoryPath: []string{"home", "garden"}, Price: gbp(799),
			StockStatus: commercev1.StockStatus_STOCK_STATUS_IN_STOCK, Durability: commercev1.Durability_DURABILITY_CONSUMABLE},
	} {
		p.publish(t, events.Event{Topic: topics.CommerceProducts, Source: "journey-test", Subject: pr.GetProductId(), Time: now,
			Payload: &commercev1.ProductEvent{Kind: commercev1.ProductEvent_KIND_UPSERTED, Product: pr, OccurredAt: timestamppb.New(now)}})
	}
	p.publish(t,
		events.Event{Topic: topics.CommerceCustomers, Source: "journey-test", Subject: customer, Time: now,
			Payload: &commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_CREATED, OccurredAt: timestamppb.New(now),
				Customer: &commercev1.Customer{CustomerId: customer, SignedUpAt: timestamppb.New(now), Country: "United Kingdom"}}},
		completedOrder(order, customer, now,
			line("J-TROWEL", "home/garden", 2, 1250), line("J-GLOVES", "home/garden", 1, 799)),
	)

	var points int64
	eventually(t, "loyalty credits points for the order", func() (bool, string) {
		var m loyaltyv1.GetMemberResponse
		code, body := p.call(t, http.MethodGet, "/v1/loyalty/members/"+customer, custTok, nil, &m)
		b := m.GetMember().GetBalance()
		points = b.GetAvailable() + b.GetPending()
		return code == http.StatusOK && points > 0, fmt.Sprintf("%d %s", code, body)
	})
	eventually(t, "segmentation counts the order in the profile", func() (bool, string) {
		var r segmentationv1.GetCustomerProfileResponse
		code, body := p.call(t, http.MethodGet, "/v1/customers/"+customer+"/profile", custTok, nil, &r)
		tr := r.GetProfile().GetTraits()
		return code == http.StatusOK && tr.GetOrderCount() == 1 && tr.GetTotalSpend().GetAmountMinor() == 2*1250+799, fmt.Sprintf("%d %s", code, body)
	})
	eventually(t, "recommendation learns the basket: gloves go with the trowel", func() (bool, string) {
		var r recommendationv1.GetRecommendationsResponse
		code, body := p.call(t, http.MethodGet, "/v1/recommendations?productIds=J-TROWEL&strategy=STRATEGY_CROSS_SELL&limit=10", svcTok, nil, &r)
		for _, it := range r.GetItems() {
			if it.GetProductId() == "J-GLOVES" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d %s", code, body)
	})

	// A full refund: points go back, spend goes down.
	refundAt := now.Add(time.Minute)
	p.publish(t, events.Event{Topic: topics.CommerceOrders, Source: "journey-test", Subject: customer, Time: refundAt,
		Payload: &commercev1.OrderEvent{
			Kind: commercev1.OrderEvent_KIND_REFUNDED, OrderId: order, CustomerId: customer, RefundId: order + "-r1",
			RefundedLines: []*commercev1.RefundedLine{
				{LineId: "L1", Sku: "J-TROWEL", Quantity: 2, Amount: gbp(2500)},
				{LineId: "L2", Sku: "J-GLOVES", Quantity: 1, Amount: gbp(799)},
			},
			OccurredAt: timestamppb.New(refundAt),
		}})
	eventually(t, "loyalty claws the order's points back", func() (bool, string) {
		var m loyaltyv1.GetMemberResponse
		code, body := p.call(t, http.MethodGet, "/v1/loyalty/members/"+customer, custTok, nil, &m)
		b := m.GetMember().GetBalance()
		return code == http.StatusOK && b.GetAvailable()+b.GetPending() == 0, fmt.Sprintf("%d %s", code, body)
	})
	eventually(t, "segmentation lowers the spend by the refund", func() (bool, string) {
		var r segmentationv1.GetCustomerProfileResponse
		code, body := p.call(t, http.MethodGet, "/v1/customers/"+customer+"/profile", custTok, nil, &r)
		return code == http.StatusOK && r.GetProfile().GetTraits().GetTotalSpend().GetAmountMinor() == 0, fmt.Sprintf("%d %s", code, body)
	})
}

// Journey 2: a referral from code to click to sign-up to first order pays
// both sides in the loyalty service, and a "referrers" segment gains the
// referrer.
func TestJourneyAReferralPaysBothSidesInPointsAndTheReferrerJoinsASegment(t *testing.T) {
	p := running(t)
	now := time.Now().UTC()
	referrer, friend := uniqueID("referrer"), uniqueID("friend")
	marketer := p.token(t, "journey-marketer", auth.RoleMarketer)
	refTok := p.token(t, referrer, auth.RoleCustomer)
	friendTok := p.token(t, friend, auth.RoleCustomer)

	var seg segmentationv1.CreateSegmentResponse
	if code, body := p.call(t, http.MethodPost, "/v1/segments", marketer, &segmentationv1.CreateSegmentRequest{
		IdempotencyKey: uniqueID("seg"),
		Segment:        &segmentationv1.Segment{Name: uniqueID("Referrers"), Rule: "referrals_made >= 1"},
	}, &seg); code != http.StatusOK {
		t.Fatalf("create segment: %d %s", code, body)
	}

	var camp referralv1.CreateCampaignResponse
	if code, body := p.call(t, http.MethodPost, "/v1/referral/campaigns", marketer, &referralv1.CreateCampaignRequest{
		IdempotencyKey: uniqueID("camp"),
		Campaign: &referralv1.Campaign{
			Name:           "Give 300, get 500",
			ReferrerReward: &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_POINTS, Points: 500},
			FriendReward:   &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_POINTS, Points: 300},
			Conditions:     &referralv1.CampaignConditions{AttributionWindowDays: 30, HoldPeriodDays: 0},
		},
	}, &camp); code != http.StatusOK {
		t.Fatalf("create campaign: %d %s", code, body)
	}
	campaign := camp.GetCampaign().GetCampaignId()
	if code, body := p.call(t, http.MethodPost, "/v1/referral/campaigns/"+campaign+":activate", marketer,
		&referralv1.ActivateCampaignRequest{IdempotencyKey: uniqueID("act")}, nil); code != http.StatusOK {
		t.Fatalf("activate: %d %s", code, body)
	}

	// The referrer has been a customer for a while; the friend signs up now.
	p.publish(t,
		events.Event{Topic: topics.CommerceCustomers, Source: "journey-test", Subject: referrer, Time: now.Add(-30 * 24 * time.Hour),
			Payload: &commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_CREATED, OccurredAt: timestamppb.New(now.Add(-30 * 24 * time.Hour)),
				Customer: &commercev1.Customer{CustomerId: referrer, SignedUpAt: timestamppb.New(now.Add(-30 * 24 * time.Hour))}}},
	)
	var code referralv1.CreateReferralCodeResponse
	if st, body := p.call(t, http.MethodPost, "/v1/referral/campaigns/"+campaign+"/codes", refTok,
		&referralv1.CreateReferralCodeRequest{IdempotencyKey: uniqueID("code"), CustomerId: referrer}, &code); st != http.StatusOK {
		t.Fatalf("get a code: %d %s", st, body)
	}
	device := uniqueID("device")
	if st, body := p.call(t, http.MethodPost, "/v1/referral/codes/"+code.GetCode().GetCode()+"/clicks", "",
		&referralv1.RecordClickRequest{IdempotencyKey: uniqueID("click"), DeviceId: device}, nil); st != http.StatusOK {
		t.Fatalf("click: %d %s", st, body)
	}
	p.publish(t, events.Event{Topic: topics.CommerceCustomers, Source: "journey-test", Subject: friend, Time: now,
		Payload: &commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_CREATED, OccurredAt: timestamppb.New(now),
			Customer: &commercev1.Customer{CustomerId: friend, SignedUpAt: timestamppb.New(now)}}})
	var att referralv1.CreateAttributionResponse
	if st, body := p.call(t, http.MethodPost, "/v1/referral/attributions", friendTok, &referralv1.CreateAttributionRequest{
		IdempotencyKey: uniqueID("signup"), Code: code.GetCode().GetCode(), CustomerId: friend, DeviceId: device,
	}, &att); st != http.StatusOK {
		t.Fatalf("sign-up: %d %s", st, body)
	}
	if got := att.GetAttribution().GetStatus(); got != referralv1.ReferralStatus_REFERRAL_STATUS_SIGNED_UP {
		t.Fatalf("attribution status = %s, want SIGNED_UP: %v", got, &att)
	}

	p.publish(t, completedOrder(uniqueID("order"), friend, time.Now().UTC(), line("J-TROWEL", "home/garden", 1, 1250)))

	balance := func(customer, tok string) (int64, string) {
		var m loyaltyv1.GetMemberResponse
		st, body := p.call(t, http.MethodGet, "/v1/loyalty/members/"+customer, tok, nil, &m)
		b := m.GetMember().GetBalance()
		return b.GetAvailable() + b.GetPending(), fmt.Sprintf("%d %s", st, body)
	}
	eventually(t, "loyalty credits the referrer's 500 points", func() (bool, string) {
		n, state := balance(referrer, refTok)
		return n >= 500, state
	})
	eventually(t, "loyalty credits the friend's 300 points", func() (bool, string) {
		n, state := balance(friend, friendTok)
		return n >= 300, state
	})
	eventually(t, "the referrers segment gains the referrer", func() (bool, string) {
		var r segmentationv1.ListSegmentMembersResponse
		st, body := p.call(t, http.MethodGet, "/v1/segments/"+seg.GetSegment().GetSegmentId()+"/members?pageSize=1000", marketer, nil, &r)
		for _, m := range r.GetMembers() {
			if m.GetCustomerId() == referrer {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d %s", st, body)
	})
}

// restartKilled kills a service with SIGKILL, as a crashed node would, and
// starts it again on the same database.
func (p *platform) restartKilled(t *testing.T, name string) {
	t.Helper()
	for _, c := range p.st.children {
		if c.svc.name != name {
			continue
		}
		select {
		case <-c.done:
			continue // an earlier, already dead incarnation
		default:
		}
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-c.done
		if err := p.st.startService(c.svc, p.st.pg.URL(name)); err != nil {
			t.Fatal(err)
		}
		restarted := p.st.children[len(p.st.children)-1]
		if err := waitHealthy(context.Background(), restarted, p.cfg.PortOffset, 90*time.Second); err != nil {
			t.Fatalf("%s after SIGKILL: %v", name, err)
		}
		return
	}
	t.Fatalf("no running %s", name)
}

// Journey 4: Kafka goes away for a while and a service is killed in the
// middle of a batch; nothing is lost and nothing is counted twice.
func TestJourneyABrokerOutageAndAKilledServiceLoseAndDuplicateNothing(t *testing.T) {
	p := running(t)
	if p.st.broker == nil || p.st.pg == nil {
		t.Skip("needs the stack's own broker and PostgreSQL")
	}
	marketer := p.token(t, "journey-marketer", auth.RoleMarketer)
	customer := uniqueID("outage")
	custTok := p.token(t, customer, auth.RoleCustomer)

	// Kafka down: the APIs keep answering and the outbox keeps the events.
	p.st.broker.Close()
	for i := range 3 {
		if code, body := p.call(t, http.MethodPost, "/v1/loyalty/members/"+customer+"/adjustments", marketer, &loyaltyv1.CreateAdjustmentRequest{
			CustomerId: customer, IdempotencyKey: fmt.Sprintf("%s-adj-%d", customer, i), Points: 100,
			Reason: loyaltyv1.AdjustmentReason_ADJUSTMENT_REASON_GOODWILL, Note: "journey: broker outage",
		}, nil); code != http.StatusOK {
			p.st.broker.Reopen()
			t.Fatalf("adjustment %d while Kafka is down: %d %s", i, code, body)
		}
	}
	var m loyaltyv1.GetMemberResponse
	if code, body := p.call(t, http.MethodGet, "/v1/loyalty/members/"+customer, custTok, nil, &m); code != http.StatusOK || m.GetMember().GetBalance().GetAvailable() != 300 {
		p.st.broker.Reopen()
		t.Fatalf("member while Kafka is down: %d %s, want 300 available", code, body)
	}
	if err := p.st.broker.Reopen(); err != nil {
		t.Fatalf("broker back: %v", err)
	}
	eventually(t, "segmentation sees the 300 points exactly once after Kafka is back", func() (bool, string) {
		var r segmentationv1.GetCustomerProfileResponse
		code, body := p.call(t, http.MethodGet, "/v1/customers/"+customer+"/profile", custTok, nil, &r)
		return code == http.StatusOK && r.GetProfile().GetTraits().GetPointsBalance() == 300, fmt.Sprintf("%d %s", code, body)
	})

	// Orders for many customers; loyalty is killed while it works on them.
	const n = 60
	base := uniqueID("kill")
	var evs []events.Event
	for i := range n {
		c := fmt.Sprintf("%s-%02d", base, i)
		evs = append(evs, completedOrder(c+"-o", c, time.Now().UTC(), line("J-TROWEL", "home/garden", 1, 1000)))
	}
	p.publish(t, evs...)
	p.restartKilled(t, "loyalty")
	svcTok := p.token(t, "journey-test", auth.RoleService)
	for i := range n {
		c := fmt.Sprintf("%s-%02d", base, i)
		eventually(t, "customer "+c+" has the order's 10 points exactly once", func() (bool, string) {
			var m loyaltyv1.GetMemberResponse
			code, body := p.call(t, http.MethodGet, "/v1/loyalty/members/"+c, svcTok, nil, &m)
			return code == http.StatusOK && m.GetMember().GetLifetimePoints() == 10, fmt.Sprintf("%d %s", code, body)
		})
	}
}

// shBlocks returns the ```sh blocks of a Markdown file, in order.
func shBlocks(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	in := false
	for _, l := range strings.Split(string(raw), "\n") {
		switch {
		case !in && strings.TrimSpace(l) == "```sh":
			in = true
		case in && strings.TrimSpace(l) == "```":
			in = false
			out.WriteString("\n")
		case in:
			out.WriteString(l + "\n")
		}
	}
	return out.String()
}

// docs/quickstart.md must work when pasted: its shell blocks run, in order,
// against the local stack, with the real dataset.
func TestQuickstartWorksWhenPasted(t *testing.T) {
	p := running(t)
	if _, err := onlineretail.Find(".", onlineretail.OnlineRetail); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("dataset missing: %v", err)
		}
		t.Fatal(err)
	}
	script := shBlocks(t, filepath.Join(p.st.root, "docs", "quickstart.md"))
	if !strings.Contains(script, "platformctl import") {
		t.Fatal("docs/quickstart.md has no import step")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-eu", "-c", script)
	cmd.Dir = p.st.root
	cmd.Env = append(os.Environ(),
		"AFFINITY_ENTRY="+p.entry,
		"AFFINITY_DATA_DIR="+p.cfg.DataDir,
		"KAFKA_BROKERS="+strings.Join(p.st.brokers, ","),
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docs/quickstart.md failed: %v\n%s", err, out)
	}
}
