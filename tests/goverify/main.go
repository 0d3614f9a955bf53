// Command goverify checks a live escrow transparency log with an independent implementation:
// golang.org/x/mod/sumdb/note for the log's signed checkpoint, golang.org/x/mod/sumdb/tlog for the
// tree hash and the RFC 6962 proofs, and the standard library's Ed25519 for the witnesses'
// cosignatures (c2sp.org/tlog-cosignature v1, which x/mod does not know).
//
//	goverify -server URL -log-key VKEY [-witness VKEY,VKEY] [-quorum K]
//
// Exits 0 when everything verifies, 1 naming the first failure.
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var client = &http.Client{Timeout: 30 * time.Second}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAILED: "+format+"\n", args...)
	os.Exit(1)
}

func get(server, path string) []byte {
	resp, err := client.Get(server + path)
	if err != nil {
		fail("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		fail("GET %s: HTTP %d %v", path, resp.StatusCode, err)
	}
	return body
}

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

func openCheckpoint(msg []byte, verifier note.Verifier) (*note.Note, checkpoint) {
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("the checkpoint does not verify with the log key: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 || lines[0] != verifier.Name() {
		fail("the checkpoint is not a tlog-checkpoint of %s", verifier.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		fail("the checkpoint's size %q is not canonical decimal", lines[1])
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		fail("the checkpoint's root hash is malformed")
	}
	var root tlog.Hash
	copy(root[:], raw)
	return n, checkpoint{lines[0], size, root}
}

type witness struct {
	name  string
	keyID uint32
	key   ed25519.PublicKey
}

// parseWitness reads a vkey "name+hex(key ID)+base64(0x04 || key)" and checks its key ID.
func parseWitness(vkey string) witness {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		fail("witness key %q is not name+hash+key", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		fail("witness key %q is not an Ed25519 cosignature/v1 key", vkey)
	}
	w := witness{name: parts[0], key: ed25519.PublicKey(raw[1:])}
	digest := sha256.Sum256(append([]byte(w.name+"\n\x04"), raw[1:]...))
	w.keyID = binary.BigEndian.Uint32(digest[:4])
	if fmt.Sprintf("%08x", w.keyID) != parts[1] {
		fail("witness key %q: the key ID does not match", vkey)
	}
	return w
}

// cosigned returns the witnesses whose cosignature/v1 on the note's text verifies.
func cosigned(n *note.Note, witnesses []witness) []string {
	var names []string
	for _, w := range witnesses {
		for _, sig := range n.UnverifiedSigs {
			if sig.Name != w.name || sig.Hash != w.keyID {
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(sig.Base64)
			if err != nil || len(raw) != 4+8+ed25519.SignatureSize {
				fail("the cosignature by %s is malformed", w.name)
			}
			timestamp := binary.BigEndian.Uint64(raw[4:12])
			message := fmt.Sprintf("cosignature/v1\ntime %d\n%s", timestamp, n.Text)
			if !ed25519.Verify(w.key, []byte(message), raw[12:]) {
				fail("the cosignature by %s does not verify", w.name)
			}
			names = append(names, w.name)
			break
		}
	}
	return names
}

type hashes map[int64]tlog.Hash

func (h hashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		v, ok := h[x]
		if !ok {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = v
	}
	return out, nil
}

func decodeProof(body []byte) []tlog.Hash {
	var answer struct {
		Proof []string `json:"proof"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		fail("a proof is not JSON: %v", err)
	}
	proof := make([]tlog.Hash, len(answer.Proof))
	for i, text := range answer.Proof {
		raw, err := base64.RawURLEncoding.DecodeString(text)
		if err != nil || len(raw) != tlog.HashSize {
			fail("a proof hash is malformed")
		}
		copy(proof[i][:], raw)
	}
	return proof
}

func main() {
	server := flag.String("server", "", "the escrow service URL")
	logKey := flag.String("log-key", "", "the log's verifier key (name+hash+key)")
	witnessKeys := flag.String("witness", "", "comma-separated witness vkeys")
	quorum := flag.Int("quorum", 0, "how many of the witnesses must have cosigned")
	flag.Parse()
	verifier, err := note.NewVerifier(*logKey)
	if err != nil {
		fail("the log key: %v", err)
	}
	var witnesses []witness
	for _, vkey := range strings.Split(*witnessKeys, ",") {
		if vkey != "" {
			witnesses = append(witnesses, parseWitness(vkey))
		}
	}

	n, latest := openCheckpoint(get(*server, "/api/v1/log/checkpoint"), verifier)
	names := cosigned(n, witnesses)
	if len(names) < *quorum {
		fail("the checkpoint of size %d is cosigned by %d witness(es) %v; %d required", latest.size, len(names), names, *quorum)
	}

	stored := hashes{}
	leaves := []tlog.Hash{}
	for start := int64(0); start < latest.size; {
		var page struct {
			Entries []struct {
				Index int64  `json:"index"`
				Body  string `json:"body"`
			} `json:"entries"`
		}
		path := fmt.Sprintf("/api/v1/log/entries?start=%d&end=%d", start, latest.size)
		if err := json.Unmarshal(get(*server, path), &page); err != nil || len(page.Entries) == 0 {
			fail("entries from %d: %v", start, err)
		}
		for _, e := range page.Entries {
			if e.Index != start || start >= latest.size {
				fail("entry %d is missing", start)
			}
			body, err := base64.RawURLEncoding.DecodeString(e.Body)
			if err != nil {
				fail("entry %d is not base64url", start)
			}
			leaf := tlog.RecordHash(body)
			leaves = append(leaves, leaf)
			more, err := tlog.StoredHashes(start, body, stored)
			if err != nil {
				fail("entry %d: %v", start, err)
			}
			for i, h := range more {
				stored[tlog.StoredHashIndex(0, start)+int64(i)] = h
			}
			start++
		}
	}
	root, err := tlog.TreeHash(latest.size, stored)
	if err != nil || root != latest.root {
		fail("the entries do not hash to the checkpoint's root (%v)", err)
	}

	checked := 0
	for _, index := range []int64{0, latest.size / 2, latest.size - 1} {
		if index < 0 || latest.size == 0 {
			continue
		}
		proof := decodeProof(get(*server, fmt.Sprintf("/api/v1/log/proof/inclusion?index=%d&size=%d", index, latest.size)))
		if err := tlog.CheckRecord(proof, latest.size, latest.root, index, leaves[index]); err != nil {
			fail("the inclusion proof of entry %d does not verify: %v", index, err)
		}
		checked++
	}
	for _, old := range []int64{1, latest.size / 2, latest.size - 1} {
		if old < 1 || old >= latest.size {
			continue
		}
		_, before := openCheckpoint(get(*server, fmt.Sprintf("/api/v1/log/checkpoints/%d", old)), verifier)
		proof := decodeProof(get(*server, fmt.Sprintf("/api/v1/log/proof/consistency?first=%d&second=%d", old, latest.size)))
		if err := tlog.CheckTree(proof, latest.size, latest.root, old, before.root); err != nil {
			fail("the consistency proof from size %d does not verify: %v", old, err)
		}
		checked++
	}
	fmt.Printf("OK: %s at size %d: signed by the log key, cosigned by %s, %d entries hash to the root, %d proofs verify\n",
		latest.origin, latest.size, strings.Join(names, ", "), latest.size, checked)
}
