// Transcodely's published Go verification (webhooks/verify.go), served over HTTP.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"transcodely-receiver/webhooks"
)

const secret = "whsec_your_signing_secret"

func main() {
	addr := "127.0.0.1:0"
	if len(os.Args) > 1 {
		addr = "127.0.0.1:" + os.Args[1]
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ok := webhooks.VerifyWebhook(body, r.Header.Get("X-Transcodely-Signature"), r.Header.Get("X-Transcodely-Timestamp"), secret)
		headers := map[string]string{}
		for k := range r.Header {
			headers[k] = r.Header.Get(k)
		}
		line, _ := json.Marshal(map[string]interface{}{"ok": ok, "headers": headers, "body": string(body)})
		fmt.Println(string(line))
		if ok {
			w.WriteHeader(200)
			w.Write([]byte("OK"))
		} else {
			w.WriteHeader(401)
			w.Write([]byte("Invalid signature"))
		}
	}))
}
