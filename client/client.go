// Package client calls the binary batch API of "lrsp serve"
// (api/lrsp/v1/predict.proto) over gRPC or the Connect protocol.
//
// The binary API answers what POST /v1/predict answers, bit for bit, for
// features given in model order (the "inputs" of GET /v1/model); its
// errors carry Connect codes (connect.CodeOf): NotFound for an unknown
// user, InvalidArgument for a malformed item or a batch over the server's
// --max-batch, ResourceExhausted for a body over --max-body, OutOfRange for
// a non-finite prediction, Unauthenticated without the predict token, and
// Unavailable when the server is at its --max-in-flight bound.
package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	lrspv1 "github.com/lrsp/lrsp/api/gen/lrsp/v1"
	"github.com/lrsp/lrsp/api/gen/lrsp/v1/lrspv1connect"
)

// Protocol selects the wire protocol of a Client.
type Protocol int

const (
	// Connect is the Connect protocol (HTTP/1.1, or HTTP/2 over TLS).
	Connect Protocol = iota
	// GRPC is gRPC, over cleartext HTTP/2 (h2c) for http:// URLs and
	// HTTP/2 over TLS for https:// URLs.
	GRPC
)

// String returns "connect" or "grpc".
func (p Protocol) String() string {
	if p == GRPC {
		return "grpc"
	}
	return "connect"
}

// Options configures a Client. The zero value calls with the Connect
// protocol, sends no token and makes its own HTTP client.
type Options struct {
	// Protocol selects the wire protocol; the zero value is Connect.
	Protocol Protocol
	// Token, when not empty, is sent as "Authorization: Bearer Token" on
	// every call (the server's --predict-token-file or write token).
	Token string
	// HTTPClient carries the calls; nil means a client of its own, with
	// one transport (and so its own connections) per Client, that speaks
	// the protocols Protocol needs. A given client must speak HTTP/2 for
	// GRPC.
	HTTPClient *http.Client
	// Gzip asks for gzip-compressed responses. The zero value asks for
	// none: predictions are float64s that gzip hardly shrinks, and
	// compressing them costs the server CPU time.
	Gzip bool
}

// Client calls the binary API of one server. It is safe for concurrent
// use.
type Client struct {
	rpc   lrspv1connect.PredictServiceClient
	token string
	codec *codec
	grpc  *grpcCaller // sends prepared requests over gRPC; nil for Connect
}

// New returns a Client for the server at baseURL, an http:// or https://
// URL such as "http://127.0.0.1:8080".
func New(baseURL string, opt Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: server URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q: want http://HOST:PORT or https://HOST:PORT", baseURL)
	}
	hc := opt.HTTPClient
	if hc == nil {
		p := new(http.Protocols)
		p.SetHTTP2(true)
		if opt.Protocol == GRPC {
			p.SetUnencryptedHTTP2(true)
		} else {
			p.SetHTTP1(true)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Protocols = p
		tr.MaxIdleConnsPerHost = 64
		hc = &http.Client{Transport: tr}
	}
	cd := &codec{}
	opts := []connect.ClientOption{connect.WithCodec(cd)}
	if opt.Protocol == GRPC {
		opts = append(opts, connect.WithGRPC())
	}
	if !opt.Gzip {
		opts = append(opts, connect.WithAcceptCompression("gzip", nil, nil))
	}
	c := &Client{rpc: lrspv1connect.NewPredictServiceClient(hc, baseURL, opts...), token: opt.Token, codec: cd}
	if opt.Protocol == GRPC && !opt.Gzip {
		c.grpc = &grpcCaller{hc: hc, url: strings.TrimRight(baseURL, "/") + lrspv1connect.PredictServicePredictBatchProcedure, token: opt.Token}
	}
	return c, nil
}

// Item is one prediction to ask for: a user's ID and the model's input
// features in model order.
type Item struct {
	User     string
	Features []float64
}

// Predict returns the prediction of every item, in order, and whether
// they are probabilities (a model trained with the logistic loss). The
// batch fails as a whole; connect.CodeOf(err) gives the error's code.
func (c *Client) Predict(ctx context.Context, items []Item) (preds []float64, probability bool, err error) {
	req := &lrspv1.PredictBatchRequest{Items: make([]*lrspv1.PredictItem, len(items))}
	for i, it := range items {
		req.Items[i] = &lrspv1.PredictItem{User: it.User, Features: it.Features}
	}
	resp, err := c.PredictBatch(ctx, req)
	if err != nil {
		return nil, false, err
	}
	return resp.Predictions, resp.Probability, nil
}

// PredictBatch sends req as it is, for callers that build (and reuse)
// request messages themselves.
func (c *Client) PredictBatch(ctx context.Context, req *lrspv1.PredictBatchRequest) (*lrspv1.PredictBatchResponse, error) {
	r := connect.NewRequest(req)
	if c.token != "" {
		r.Header().Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.rpc.PredictBatch(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("client: predict batch: %w", err)
	}
	if n, want := len(resp.Msg.Predictions), len(req.Items); n != want {
		return nil, fmt.Errorf("client: predict batch: %d predictions for %d items", n, want)
	}
	return resp.Msg, nil
}

// Prepared is a PredictBatch request encoded once, to be sent many times
// with PredictPrepared without encoding it again (as a load generator
// does). It is tied to the Client that prepared it.
type Prepared struct {
	msg   *lrspv1.PredictBatchRequest // a private copy, the key of its encoding
	n     int
	frame []byte // the gRPC message, for Client.grpc
}

// Prepare encodes req for PredictPrepared. The Client keeps the encoding
// (about 8 bytes a feature) for as long as it lives.
func (c *Client) Prepare(req *lrspv1.PredictBatchRequest) (*Prepared, error) {
	b, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("client: prepare: %w", err)
	}
	p := &Prepared{msg: &lrspv1.PredictBatchRequest{}, n: len(req.Items)}
	if c.grpc != nil {
		if p.frame, err = grpcFrame(b); err != nil {
			return nil, err
		}
		return p, nil
	}
	c.codec.encoded.Store(p.msg, b)
	return p, nil
}

// PredictPrepared sends a prepared request, as PredictBatch sends the
// request that p was prepared from. Over gRPC (without Options.Gzip) it
// sends the prepared message with net/http directly rather than through
// connect, and checks and decodes the response itself (the status, the
// content type, a single uncompressed message, the grpc-status trailer,
// and one prediction per item); its errors carry the same codes.
func (c *Client) PredictPrepared(ctx context.Context, p *Prepared) (*lrspv1.PredictBatchResponse, error) {
	if c.grpc != nil {
		if p.frame == nil {
			return nil, errors.New("client: predict batch: the request was prepared by another client")
		}
		return c.grpc.call(ctx, p)
	}
	r := connect.NewRequest(p.msg)
	if c.token != "" {
		r.Header().Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.rpc.PredictBatch(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("client: predict batch: %w", err)
	}
	if n := len(resp.Msg.Predictions); n != p.n {
		return nil, fmt.Errorf("client: predict batch: %d predictions for %d items", n, p.n)
	}
	return resp.Msg, nil
}

// codec is connect's binary protobuf codec, except that it sends the
// stored encoding of a prepared request's message instead of encoding it.
type codec struct {
	encoded sync.Map // *lrspv1.PredictBatchRequest -> []byte
}

// Name returns "proto", so that the codec replaces connect's own.
func (*codec) Name() string { return "proto" }

// IsBinary reports that the codec is binary.
func (*codec) IsBinary() bool { return true }

// Marshal encodes msg, or returns a copy of its prepared encoding.
func (c *codec) Marshal(msg any) ([]byte, error) { return c.MarshalAppend(nil, msg) }

// MarshalAppend appends the encoding of msg to dst: its prepared encoding
// if it has one.
func (c *codec) MarshalAppend(dst []byte, msg any) ([]byte, error) {
	if b, ok := c.encoded.Load(msg); ok {
		return append(dst, b.([]byte)...), nil
	}
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("client: %T is not a protobuf message", msg)
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, m)
}

// Unmarshal decodes data into msg.
func (*codec) Unmarshal(data []byte, msg any) error {
	m, ok := msg.(proto.Message)
	if !ok {
		return fmt.Errorf("client: %T is not a protobuf message", msg)
	}
	return proto.Unmarshal(data, m)
}
