package serve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"

	lrspv1 "github.com/lrsp/lrsp/api/gen/lrsp/v1"
	"github.com/lrsp/lrsp/api/gen/lrsp/v1/lrspv1connect"
)

// The binary batch API (api/lrsp/v1/predict.proto) is served with
// connectrpc.com/connect on the same mux as the JSON API, so that the
// in-flight bound, the access log and the metrics of ServeHTTP apply to it.
// It speaks gRPC (over HTTP/2, cleartext with Run), gRPC-Web and the
// Connect protocol, with the binary protobuf codec and Connect's JSON one.

// rpcRoute is the path prefix of the binary API's procedures.
const rpcRoute = "/" + lrspv1connect.PredictServiceName + "/"

// mountRPC mounts the binary API on the server's mux. It is what
// lrspv1connect.NewPredictServiceHandler mounts (the same procedure,
// schema and idempotency), except that the handler receives a
// batchRequest, which the codecs decode into slices that the server
// reuses, rather than a PredictBatchRequest.
func (s *Server) mountRPC() {
	method := lrspv1.File_lrsp_v1_predict_proto.Services().ByName("PredictService").Methods().ByName("PredictBatch")
	h := connect.NewUnaryHandler(lrspv1connect.PredictServicePredictBatchProcedure, s.predictBatch,
		connect.WithSchema(method),
		connect.WithIdempotency(connect.IdempotencyNoSideEffects),
		connect.WithReadMaxBytes(int(min(s.opt.MaxBodyBytes, math.MaxInt32))),
		connect.WithCodec(rpcCodec{maxItems: s.opt.MaxBatch, pool: &s.batches}),
		connect.WithCodec(rpcJSONCodec{name: "json"}),
		connect.WithCodec(rpcJSONCodec{name: "json; charset=utf-8"}))
	s.mux.Handle(rpcRoute, s.met.instrument(lrspv1connect.PredictServicePredictBatchProcedure,
		func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != lrspv1connect.PredictServicePredictBatchProcedure {
				http.NotFound(w, r)
				return
			}
			h.ServeHTTP(w, r)
		}))
}

// isRPC reports whether r is a request of the binary API that connect can
// answer in its own protocol (gRPC, gRPC-Web or Connect).
func (s *Server) isRPC(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, rpcRoute) && s.rpcErrors.IsSupported(r)
}

// writeRPCError answers an RPC request with e in the request's protocol.
func (s *Server) writeRPCError(w http.ResponseWriter, r *http.Request, e *httpError) {
	s.rpcErrors.Write(w, r, connect.NewError(connectCode(e.code), errors.New(e.msg)))
}

// connectCode maps the HTTP status of an error of the JSON API to the
// Connect (gRPC) code that the binary API answers for the same error.
func connectCode(status int) connect.Code {
	switch status {
	case http.StatusBadRequest:
		return connect.CodeInvalidArgument
	case http.StatusUnauthorized:
		return connect.CodeUnauthenticated
	case http.StatusNotFound:
		return connect.CodeNotFound
	case http.StatusRequestEntityTooLarge:
		return connect.CodeResourceExhausted
	case http.StatusUnprocessableEntity:
		return connect.CodeOutOfRange
	case http.StatusServiceUnavailable:
		return connect.CodeUnavailable
	}
	return connect.CodeInternal
}

// rpcError converts an error of the shared prediction code into a
// connect error, logging server errors as the JSON API does.
func (s *Server) rpcError(err error) error {
	var he *httpError
	if !errors.As(err, &he) {
		s.opt.Logger.Error("request failed", "path", lrspv1connect.PredictServicePredictBatchProcedure, "err", err)
		he = &httpError{code: http.StatusInternalServerError, msg: "internal error: " + err.Error()}
	}
	return connect.NewError(connectCode(he.code), errors.New(he.msg))
}

// predictBatch answers the binary batch predict with the semantics of
// POST /v1/predict: the same token, batch limit, validation of user IDs
// and features, unknown-user policy and refusal of non-finite predictions,
// and predictions equal bit for bit to the JSON API's. Features are given
// in model order only (there is no by-name form).
func (s *Server) predictBatch(_ context.Context, req *connect.Request[batchRequest]) (*connect.Response[lrspv1.PredictBatchResponse], error) {
	b := req.Msg
	defer putBatch(&s.batches, b)
	if !s.authorizedHeader(req.Header().Get("Authorization"), predictToken) {
		return nil, connect.NewError(connect.CodeUnauthenticated,
			errors.New("a valid bearer token is required for "+lrspv1connect.PredictServicePredictBatchProcedure))
	}
	switch n := b.len(); {
	case n == 0:
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("items: empty batch"))
	case n > s.opt.MaxBatch:
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("items: %d items exceed the batch limit of %d", n, s.opt.MaxBatch))
	}
	for i, user := range b.users {
		if err := CheckUserID(user); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("items[%d]: %w", i, err))
		}
		x := b.features(i)
		if len(x) == s.din && b.finite[i] {
			continue // the common case, without building the item's name
		}
		if err := s.fs.check(x, "items["+strconv.Itoa(i)+"]"); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	preds := make([]float64, b.len())
	if err := s.predictAll(len(preds), func(i int) string { return b.users[i] }, b.features, preds, sc); err != nil {
		return nil, s.rpcError(err)
	}
	for i, p := range preds {
		if math.IsNaN(p) || math.IsInf(p, 0) {
			return nil, connect.NewError(connect.CodeOutOfRange, fmt.Errorf("items[%d]: the prediction for user %q is not a finite number (%v): "+
				"the features are too large in magnitude for the user's parameters", i, b.users[i], p))
		}
	}
	s.met.predictions.Add(float64(len(preds)))
	return connect.NewResponse(&lrspv1.PredictBatchResponse{Predictions: preds, Probability: s.prob}), nil
}
