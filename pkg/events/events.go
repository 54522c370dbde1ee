// Package events holds the Go form of every event that crosses a Kafka topic
// in the pipeline. Each type mirrors one versioned JSON Schema in schemas/;
// a test keeps the two from drifting apart.
package events

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event type names. They double as the default topic names.
const (
	TypeMediaUploaded     = "media.uploaded"
	TypeMediaIngested     = "media.ingested"
	TypeMediaHashed       = "media.hashed"
	TypeMediaMatched      = "media.matched"
	TypeReviewRequested   = "review.requested"
	TypeReviewDecided     = "review.decided"
	TypeEnforcementAction = "enforcement.actions"
	TypeBankUpdate        = "bank.updates"
	// TypeStreamSegment is one segment of a live stream, sent as the
	// platform produces it; its content id is the stream's id.
	TypeStreamSegment = "stream.segments"
)

// SchemaVersion is the version of every event schema this package writes.
const SchemaVersion = 1

// Content types an upload may declare.
const (
	ContentImage = "image"
	ContentVideo = "video"
)

// Meta is carried by every event: who it is, which schema it follows, which
// piece of content it concerns and which upload started the chain.
type Meta struct {
	EventID       string    `json:"event_id"`
	EventType     string    `json:"event_type"`
	SchemaVersion int       `json:"schema_version"`
	ContentID     string    `json:"content_id"`
	CorrelationID string    `json:"correlation_id"`
	OccurredAt    time.Time `json:"occurred_at"`
	// ClientID names the ingest client (a platform's key) that submitted
	// the content. From media.ingested and stream.segments on, ContentID is
	// then the client's id scoped to it (see ScopedID), so that two clients'
	// ids never collide; PlatformContentID gives back the client's own id.
	// Empty on events that no client submitted (a platform producing to
	// stream.segments itself, events written before clients existed).
	ClientID string `json:"client_id,omitempty"`
}

// Header returns the event's metadata.
func (m *Meta) Header() *Meta { return m }

// Event is implemented by every event type through its embedded Meta.
type Event interface {
	Header() *Meta
}

// NewMeta fills in metadata for a new event of type typ about contentID. An
// empty correlationID starts a new correlation chain named after the event.
func NewMeta(typ, contentID, correlationID string) Meta {
	id := NewID()
	if correlationID == "" {
		correlationID = id
	}
	return Meta{
		EventID:       id,
		EventType:     typ,
		SchemaVersion: SchemaVersion,
		ContentID:     contentID,
		CorrelationID: correlationID,
		OccurredAt:    time.Now().UTC(),
	}
}

// Follow returns metadata for an event of type typ caused by parent: same
// content and correlation, new id.
func Follow(typ string, parent *Meta) Meta {
	m := NewMeta(typ, parent.ContentID, parent.CorrelationID)
	m.ClientID = parent.ClientID
	return m
}

// Limits of ids. A scoped content id is a client id, a colon and the
// client's own id.
const (
	MaxClientIDBytes  = 64
	MaxContentIDBytes = 256
	maxScopedIDBytes  = MaxClientIDBytes + 1 + MaxContentIDBytes
)

// ScopedID is the pipeline's content id of a client's content id: the
// client's name, a colon and its id. Client names hold no colon (see
// CheckClientID), so the first colon splits the two unambiguously.
func ScopedID(client, id string) string { return client + ":" + id }

// PlatformContentID returns the content id the client gave: ContentID
// without the client's scope, or ContentID itself when the event carries
// no client.
func (m *Meta) PlatformContentID() string {
	if m.ClientID != "" {
		if id, ok := strings.CutPrefix(m.ContentID, m.ClientID+":"); ok {
			return id
		}
	}
	return m.ContentID
}

// CheckClientID reports whether name can name an ingest client: 1 to 64
// lower-case letters, digits, '.', '_' or '-', starting with a letter or
// digit.
func CheckClientID(name string) error {
	if name == "" || len(name) > MaxClientIDBytes {
		return fmt.Errorf("client id %q: want 1 to %d characters", name, MaxClientIDBytes)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case i > 0 && (r == '.' || r == '_' || r == '-'):
		default:
			return fmt.Errorf("client id %q: use lower-case letters, digits, '.', '_' and '-' (starting with a letter or digit)", name)
		}
	}
	return nil
}

// NewID returns a random 128-bit identifier in hex.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// MediaUploaded is a platform's upload event, as produced by the platform or by
// ingest's HTTP API.
type MediaUploaded struct {
	Meta
	MediaURL    string    `json:"media_url"`
	ContentType string    `json:"content_type"`
	UploaderID  string    `json:"uploader_id"`
	UploadedAt  time.Time `json:"uploaded_at"`
}

// MediaIngested is an upload that passed validation and the URL policy and is
// not a duplicate.
type MediaIngested struct {
	Meta
	MediaURL    string    `json:"media_url"`
	ContentType string    `json:"content_type"`
	UploaderID  string    `json:"uploader_id"`
	UploadedAt  time.Time `json:"uploaded_at"`
	IngestedAt  time.Time `json:"ingested_at"`
}

// Signal types.
const (
	SignalSHA256 = "sha256"
	SignalMD5    = "md5"
	SignalPHash  = "phash" // 64-bit goimagehash perception hash
	SignalDHash  = "dhash" // 64-bit goimagehash difference hash
	SignalPDQ    = "pdq"   // 256-bit PDQ (Meta's published algorithm), with quality
)

// Variants of a perceptual signal: how the hash was derived from the media.
// The empty variant is the whole picture as decoded (after EXIF orientation),
// the hash a shared hash list holds. Dihedral variants are the hash of the
// picture rotated or mirrored, derived from the same DCT (names and
// directions as in Meta's reference: rotations counter-clockwise, flipx
// mirrors top to bottom, flipy left to right); they let a mirrored or rotated
// copy match a bank hash of the upright original. Other variants hash a part
// of the picture: "trim" without its uniform borders, "embedded" the picture
// found inside a screenshot, and region variants (e.g. "top80", "crop90-0-50")
// a fixed part of the frame; see package mediahash.
const (
	VariantRot90     = "rot90"
	VariantRot180    = "rot180"
	VariantRot270    = "rot270"
	VariantFlipX     = "flipx"
	VariantFlipY     = "flipy"
	VariantFlipPlus  = "flipplus"
	VariantFlipMinus = "flipminus"
)

// VariantVideo is the variant of a match that rests on a video's frames
// (Match.Video says how) rather than on one hash.
const VariantVideo = "video"

// FrameVariantPrefix starts the variant of a bank entry's video frame hash:
// "frame@<ms>", the frame's time in milliseconds from the start of the
// video (see FrameVariant). A bank entry holding such hashes is a video.
const FrameVariantPrefix = "frame@"

// FrameVariant is the variant of a bank video's frame hash at ms.
func FrameVariant(ms int64) string { return FrameVariantPrefix + strconv.FormatInt(ms, 10) }

// ParseFrameVariant returns the time of a frame variant; false when v is
// not one (or its time is negative or not a decimal number).
func ParseFrameVariant(v string) (int64, bool) {
	rest, ok := strings.CutPrefix(v, FrameVariantPrefix)
	if !ok || rest == "" || len(rest) > 12 {
		return 0, false
	}
	ms, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || ms < 0 || strconv.FormatInt(ms, 10) != rest {
		return 0, false
	}
	return ms, true
}

// Signal is one hash of a piece of media.
type Signal struct {
	// Type is the hash kind, e.g. "sha256", "md5", "phash", "dhash".
	Type string `json:"type"`
	// Value is the hash in lower-case hex.
	Value string `json:"value"`
	// Quality is the hash's own quality score (0-100) where it has one.
	Quality *int `json:"quality,omitempty"`
	// Variant says which transform or region of the media was hashed; empty
	// for the whole picture. See VariantRot90 and the other variants.
	Variant string `json:"variant,omitempty"`
}

// MediaInfo describes the fetched media.
type MediaInfo struct {
	MimeType string `json:"mime_type"`
	Bytes    int64  `json:"bytes"`
	Width    int    `json:"width,omitempty"`
	Height   int    `json:"height,omitempty"`
}

// MediaHashed carries the hashes of one upload.
type MediaHashed struct {
	Meta
	MediaURL    string    `json:"media_url"`
	ContentType string    `json:"content_type"`
	UploaderID  string    `json:"uploader_id"`
	UploadedAt  time.Time `json:"uploaded_at"`
	Media       MediaInfo `json:"media"`
	Signals     []Signal  `json:"signals"`
	// DurationMs is a video's duration in milliseconds (a stream
	// segment's own length).
	DurationMs int64 `json:"duration_ms,omitempty"`
	// FrameIntervalMs is the time between a video's sampled frames (1000
	// at one frame a second).
	FrameIntervalMs int64 `json:"frame_interval_ms,omitempty"`
	// Frames are a video's sampled frames in time order, without a frame
	// whose hashes equal the previous one's: each stands for the time up to
	// the next one (the last, up to DurationMs).
	Frames []VideoFrame `json:"frames,omitempty"`
	// Stream is set when the media is one segment of a live stream (the
	// content id is the stream's); frame times are then times in the
	// stream, not in the segment.
	Stream *StreamSegmentRef `json:"stream,omitempty"`
	// Unhashable is set when the media could not be hashed (see
	// Unhashable); Signals then hold at most the byte hashes (sha256, md5)
	// of what was fetched, none when nothing was.
	Unhashable *Unhashable `json:"unhashable,omitempty"`
}

// Unhashable says why an upload's media could not be hashed. Such media
// is not let through: it goes to review (or as the enforcer's unhashable
// policy says) with this reason, so that an uploader who knows the limits
// cannot evade matching by exceeding them.
type Unhashable struct {
	// Reason is one of the Unhashable constants.
	Reason string `json:"reason"`
	// Detail is the error, for a reviewer and the audit trail.
	Detail string `json:"detail,omitempty"`
}

// Reasons media is unhashable.
const (
	// UnhashableTooLarge: the file is over the size limit.
	UnhashableTooLarge = "too_large"
	// UnhashableTooLong: the video is longer than the duration limit.
	UnhashableTooLong = "too_long"
	// UnhashableTooManyPixels: the picture (or the video's frames) is over
	// the pixel limit.
	UnhashableTooManyPixels = "too_many_pixels"
	// UnhashableUnsupported: not a picture or video that decodes (corrupt,
	// an unsupported format, a decompression bomb), or no decoder for it.
	UnhashableUnsupported = "unsupported"
	// UnhashableHostUnavailable: the media host still failed (timeouts,
	// 5xx, connection errors) after every fetch attempt.
	UnhashableHostUnavailable = "host_unavailable"
	// UnhashableHostRefused: the URL was refused by the fetch policy, or
	// the host answered 4xx.
	UnhashableHostRefused = "host_refused"
	// UnhashableDecoderCrashed: the decoder crashed on the media (or the
	// media crashed the hasher repeatedly).
	UnhashableDecoderCrashed = "decoder_crashed"
	// UnhashableDecoderTimeout: decoding took longer than its limit.
	UnhashableDecoderTimeout = "decoder_timeout"
)

// String is "reason: detail" (or the reason alone).
func (u *Unhashable) String() string {
	if u.Detail == "" {
		return u.Reason
	}
	return u.Reason + ": " + u.Detail
}

// VideoFrame is one sampled frame of a video. The short field names keep a
// two-hour video at one frame a second well under Kafka's 1 MB message
// limit (about 100 bytes a frame).
type VideoFrame struct {
	// Ms is the frame's time in milliseconds.
	Ms int64 `json:"ms"`
	// PDQ is the frame's PDQ hash, 64 hex digits.
	PDQ string `json:"pdq"`
	// Quality is the PDQ hash's quality, 0-100.
	Quality int `json:"q"`
	// Trim is the PDQ hash of the frame without its letterbox or
	// pillarbox bars, when it has some (see package framing).
	Trim string `json:"trim,omitempty"`
	// FlipY, FlipX and Rot180 are the PDQ hashes of the (square-scaled)
	// frame mirrored left to right, top to bottom, and turned 180°. With
	// the transposes of these and of PDQ (pdq.Transpose: exact for a square
	// frame), the matcher finds a bank frame in a mirrored or rotated copy.
	// Dropped first when the frames do not fit one event.
	FlipY  string `json:"flipy,omitempty"`
	FlipX  string `json:"flipx,omitempty"`
	Rot180 string `json:"rot180,omitempty"`
	// Insets are the PDQ hashes of the frame cropped to the rectangles
	// where the video looks like another one shown inside it
	// (picture-in-picture: long straight edges that stay put while the
	// footage changes; see package videohash), at most a few. Dropped with
	// the mirrored hashes when the frames do not fit one event.
	Insets []string `json:"insets,omitempty"`
}

// StreamSegmentRef places media in a live stream.
type StreamSegmentRef struct {
	// Sequence numbers the stream's segments from 0.
	Sequence int64 `json:"sequence"`
	// OffsetMs is where the segment starts in the stream.
	OffsetMs int64 `json:"offset_ms"`
	// DurationMs is the segment's length.
	DurationMs int64 `json:"duration_ms"`
	// ReceivedAt is when the pipeline received the segment.
	ReceivedAt time.Time `json:"received_at"`
}

// StreamSegment is one segment of a live stream, sent by the platform as
// soon as it is produced (every few seconds), so that a stream showing known
// footage is cut while it is live. Its content id is the stream's id, which
// keys every event about the stream, the stop_stream takedown included.
type StreamSegment struct {
	Meta
	// Sequence numbers the stream's segments from 0.
	Sequence int64 `json:"sequence"`
	// MediaURL is where the segment's media (e.g. an MPEG-TS or MP4 file)
	// is fetched from.
	MediaURL string `json:"media_url"`
	// OffsetMs is where the segment starts in the stream.
	OffsetMs int64 `json:"offset_ms"`
	// DurationMs is the segment's length.
	DurationMs int64     `json:"duration_ms"`
	UploaderID string    `json:"uploader_id"`
	ReceivedAt time.Time `json:"received_at"`
}

// MaxSegmentDuration bounds a stream segment: a platform cuts segments of a
// few seconds, and a long one would delay the stream's takedown anyway.
const MaxSegmentDuration = 10 * time.Minute

// Ref places the segment in its stream.
func (e *StreamSegment) Ref() *StreamSegmentRef {
	return &StreamSegmentRef{Sequence: e.Sequence, OffsetMs: e.OffsetMs, DurationMs: e.DurationMs, ReceivedAt: e.ReceivedAt}
}

// Match is one bank entry that an upload's signal matched.
type Match struct {
	Bank       string   `json:"bank"`
	EntryID    string   `json:"entry_id"`
	Labels     []string `json:"labels"`
	SignalType string   `json:"signal_type"`
	Signal     string   `json:"signal"`
	Distance   int      `json:"distance"`
	// Threshold is the largest distance the bank accepts for this signal type.
	Threshold int `json:"threshold"`
	// Variant is the variant of the upload's signal that matched (empty: the
	// whole picture), e.g. "flipx" for a mirrored copy.
	Variant string `json:"variant,omitempty"`
	// Incident is copied from the bank's configuration: the bank is an
	// incident bank (an attack in progress), whose matches are taken down
	// without review.
	Incident bool `json:"incident,omitempty"`
	// Severity is copied from the bank's configuration (one of the Severity
	// constants; empty means SeverityMedium).
	Severity string `json:"severity,omitempty"`
	// Video is set on a match of a video upload (or a stream segment) to a
	// bank video: which rule matched and the matched time ranges. Distance
	// is then the median distance of the matched frames and Signal the
	// upload's closest matched frame hash.
	Video *VideoMatch `json:"video,omitempty"`
}

// Video match rules (see pkg/matching/bank): copy when most of the upload's frames
// are in the bank video, contains when the upload holds most of the bank
// video, excerpt when one matched stretch is long enough on its own, frames
// for a stream segment's matched frames, which the enforcer adds up per
// stream.
const (
	VideoRuleCopy     = "copy"
	VideoRuleContains = "contains"
	VideoRuleExcerpt  = "excerpt"
	VideoRuleFrames   = "frames"
)

// VideoMatch says how a video matched a bank video.
type VideoMatch struct {
	// Rule is one of the VideoRule constants.
	Rule string `json:"rule"`
	// Transform is how the upload shows the bank video when it is not
	// upright: a dihedral variant of PDQ ("flipy" for a copy mirrored left
	// to right, "rot270" for one turned clockwise, ...); empty for an
	// upright copy. All the matched frames of a match share it.
	Transform string `json:"transform,omitempty"`
	// QueryPercent is the share of the upload's unique frames (of PDQ
	// quality 50 or more) within the threshold of a frame of the bank video.
	QueryPercent int `json:"query_percent"`
	// ReferencePercent is the share of the bank video's unique frames that
	// lie in the matched ranges.
	ReferencePercent int `json:"reference_percent"`
	// MatchedMs is the length of the matched ranges, in upload time.
	MatchedMs int64 `json:"matched_ms"`
	// Ranges are the matched stretches, in time order.
	Ranges []VideoRange `json:"ranges"`
}

// VideoRange is one stretch of an upload that shows a stretch of a bank
// video: the same footage, at a steady offset. Ends are exclusive.
type VideoRange struct {
	QueryStartMs int64 `json:"query_start_ms"`
	QueryEndMs   int64 `json:"query_end_ms"`
	RefStartMs   int64 `json:"ref_start_ms"`
	RefEndMs     int64 `json:"ref_end_ms"`
	// Frames counts the matched upload frames in the stretch.
	Frames int `json:"frames"`
}

// MediaMatched is the matcher's verdict on one upload. Matches is empty when
// nothing matched: the event still records that the upload was checked.
type MediaMatched struct {
	Meta
	MediaURL    string    `json:"media_url"`
	ContentType string    `json:"content_type"`
	UploaderID  string    `json:"uploader_id"`
	UploadedAt  time.Time `json:"uploaded_at"`
	Matches     []Match   `json:"matches"`
	// Suppressed are block matches an allow-list match cancelled (see
	// pkg/matching/bank): they did not count, and are kept to show why the upload
	// was let through.
	Suppressed []Match `json:"suppressed,omitempty"`
	// Signals are the upload's signals, carried on so that a reviewer's
	// decision can feed them back into a bank.
	Signals []Signal `json:"signals,omitempty"`
	// Stream is set on the verdict of a live stream segment; its matches
	// are then the segment's frame matches (rule frames), which the
	// enforcer adds up per stream.
	Stream *StreamSegmentRef `json:"stream,omitempty"`
	// Unhashable is carried over from media.hashed: the media could not be
	// hashed, so nothing was matched and it must not be let through as if
	// it had been.
	Unhashable *Unhashable `json:"unhashable,omitempty"`
}

// ReviewRequested asks a person to look at an uncertain match.
type ReviewRequested struct {
	Meta
	MediaURL    string    `json:"media_url"`
	ContentType string    `json:"content_type"`
	UploadedAt  time.Time `json:"uploaded_at"`
	Reason      string    `json:"reason"`
	Matches     []Match   `json:"matches"`
	// Signals are the upload's signals (from media.matched), which a
	// decision feeds back into the confirmed or the allow-list bank.
	Signals []Signal `json:"signals,omitempty"`
	// Stream is set when the content is a live stream (its content id is
	// the stream's) and nothing else says so: a segment that could not be
	// hashed has no frame matches. The decision carries it on, so that a
	// violating one stops the stream.
	Stream *StreamSegmentRef `json:"stream,omitempty"`
	// Unhashable is set when the item is queued because its media could
	// not be hashed (Matches is then empty).
	Unhashable *Unhashable `json:"unhashable,omitempty"`
}

// Review decisions.
const (
	DecisionViolating = "violating"
	DecisionBenign    = "benign"
)

// ReviewDecided is a reviewer's decision on one queued item.
type ReviewDecided struct {
	Meta
	Decision    string    `json:"decision"`
	Reviewer    string    `json:"reviewer"`
	Reason      string    `json:"reason,omitempty"`
	MediaURL    string    `json:"media_url"`
	ContentType string    `json:"content_type"`
	UploadedAt  time.Time `json:"uploaded_at"`
	Matches     []Match   `json:"matches"`
	DecidedAt   time.Time `json:"decided_at"`
	// Overturns is the event id of an earlier decision on the same content
	// that this one replaces (a lead overturning a reviewer, or an appeal).
	// The enforcer restores content whose removal was overturned.
	Overturns string `json:"overturns,omitempty"`
	// Stream is the request's: set when the content is a live stream.
	Stream *StreamSegmentRef `json:"stream,omitempty"`
	// ApprovedBy is the second lead who approved an overturn that restores
	// content an incident or critical bank matched (Reviewer proposed it).
	ApprovedBy string `json:"approved_by,omitempty"`
	// CausedBy is set on the restore of an upload that the enforcer removed
	// automatically because it matched the confirmed-bank entry of a
	// decision that a lead later overturned to benign: the overturn's event
	// id. Overturns then names the removal's audit record (an automatic
	// action, not a decision), and no review item stands behind the content.
	CausedBy string `json:"caused_by,omitempty"`
}

// Enforcement actions and outcomes.
const (
	ActionRemove         = "remove"
	ActionRestrict       = "restrict"
	ActionRestore        = "restore"
	ActionStopStream     = "stop_stream"
	ActionQueueForReview = "queue_for_review"
	OutcomeSucceeded     = "succeeded"
	OutcomeFailed        = "failed"
	// OutcomeRetrying records a failed attempt that will be tried again.
	OutcomeRetrying = "retrying"
	TriggerAuto     = "auto"
	TriggerReview   = "review"
	// TriggerOverturn marks an action caused by an overturned decision.
	TriggerOverturn = "overturn"
	// TriggerIncident marks an automatic action under incident mode.
	TriggerIncident = "incident"
)

// Privileged review actions, recorded on the actions topic by the review
// service with their actor (trigger review).
const (
	ActionAssign             = "assign"
	ActionOverturnProposed   = "overturn_proposed"
	ActionOverturn           = "overturn"
	ActionAllowlistAgreed    = "allowlist_agreed"
	ActionAllowlistConfirmed = "allowlist_confirmed"
	ActionAllowlistRevoked   = "allowlist_revoked"
	// ActionRestoreRelated asks for the restore of an upload removed
	// because it matched the confirmed-bank entry of an overturned decision.
	ActionRestoreRelated = "restore_related"
)

// ActionDone names a succeeded action as the state it leaves the content
// in ("removed", "stream stopped"); an action it does not know is returned
// as it is.
func ActionDone(action string) string {
	switch action {
	case ActionRemove:
		return "removed"
	case ActionRestrict:
		return "restricted"
	case ActionHold:
		return "held"
	case ActionStopStream:
		return "stream stopped"
	case ActionRestore:
		return "restored"
	}
	return action
}

// IsReviewRecord says whether action is one of the review service's own
// audit records above: a record of what a person did in the review queue,
// not an action taken on the platform's content.
func IsReviewRecord(action string) bool {
	switch action {
	case ActionAssign, ActionOverturnProposed, ActionOverturn, ActionAllowlistAgreed,
		ActionAllowlistConfirmed, ActionAllowlistRevoked, ActionRestoreRelated:
		return true
	}
	return false
}

// Actions for media that could not be hashed.
const (
	// ActionUnhashable records that an upload's media could not be hashed
	// (no webhook call: the record itself is the action).
	ActionUnhashable = "unhashable"
	// ActionHold asks the platform to keep an upload hidden until a
	// reviewer decides on it; a restore releases it.
	ActionHold = "hold"
)

// Severities of a bank's content, highest first; they order the review
// queue.
const (
	SeverityCritical = "critical"
	SeverityHigh     = "high"
	SeverityMedium   = "medium"
	SeverityLow      = "low"
)

// EnforcementAction is the audit record of one action the enforcer took or
// tried to take, or of one privileged action of a person in the review
// service (Actor says who).
type EnforcementAction struct {
	Meta
	// Actor is the person (the token's subject) who took a privileged review
	// action; empty for the enforcer's own actions.
	Actor          string    `json:"actor,omitempty"`
	Action         string    `json:"action"`
	Trigger        string    `json:"trigger"`
	Outcome        string    `json:"outcome"`
	Reason         string    `json:"reason"`
	Bank           string    `json:"bank,omitempty"`
	Labels         []string  `json:"labels,omitempty"`
	Evidence       []Match   `json:"evidence"`
	IdempotencyKey string    `json:"idempotency_key"`
	Attempts       int       `json:"attempts"`
	Error          string    `json:"error,omitempty"`
	UploadedAt     time.Time `json:"uploaded_at"`
	ActedAt        time.Time `json:"acted_at"`
}

// Bank update operations.
const (
	BankOpAdd     = "add"
	BankOpDisable = "disable"
	// BankOpConfigure sets the settings of a whole bank. It carries no entry
	// id: its compaction key is "<bank>/", so the latest configure of a bank
	// is its configuration.
	BankOpConfigure = "configure"
)

// Bank kinds. A block bank holds content to take down; an allow bank holds
// known benign content whose matches suppress block matches (see pkg/matching/bank).
const (
	BankKindBlock = "block"
	BankKindAllow = "allow"
)

// BankUpdate adds or disables one bank entry, or configures a bank. The topic
// is compacted on the key Bank/EntryID (Bank/ for a configure), so the latest
// update of an entry or of a bank's settings is its state.
type BankUpdate struct {
	Meta
	Op      string   `json:"op"`
	Bank    string   `json:"bank"`
	EntryID string   `json:"entry_id"`
	Labels  []string `json:"labels"`
	Signals []Signal `json:"signals"`
	// Config is the bank's complete configuration, for op configure only.
	// It replaces the previous one as a whole: fields left out take their
	// defaults, not their earlier values.
	Config *BankConfig `json:"config,omitempty"`
}

// BankConfig holds the settings of one bank.
type BankConfig struct {
	// Enabled false makes the bank match nothing, without forgetting its
	// entries.
	Enabled bool `json:"enabled"`
	// Kind is BankKindBlock or BankKindAllow.
	Kind string `json:"kind"`
	// Labels are added to every match of the bank (category, source,
	// external ids).
	Labels []string `json:"labels"`
	// Signals overrides the per-signal-type settings; types left out keep
	// the matcher's defaults.
	Signals []BankSignalConfig `json:"signals"`
	// Incident marks a bank of content from an attack in progress (GIFCT's
	// Content Incident Protocol): its matches are taken down without review
	// at a wider distance, and reviewers see its items first.
	Incident bool `json:"incident,omitempty"`
	// Severity orders review items (one of the Severity constants; empty
	// means SeverityMedium).
	Severity string `json:"severity,omitempty"`
	// VideoQueryPercent is the share of an uploaded video's frames that
	// must be in one of the bank's videos for a copy match, 1-100; 0 means
	// the matcher's default (80).
	VideoQueryPercent int `json:"video_query_percent,omitempty"`
	// VideoReferencePercent is the share of a bank video's frames an
	// upload must hold for a contains match, 1-100; 0 means the matcher's
	// default (80).
	VideoReferencePercent int `json:"video_reference_percent,omitempty"`
}

// BankSignalConfig is a bank's setting for one signal type.
type BankSignalConfig struct {
	Type string `json:"type"`
	// Enabled false ignores the bank's hashes of this type.
	Enabled bool `json:"enabled"`
	// Threshold is the largest Hamming distance that matches: 0..64 for
	// 64-bit types, 0..256 for pdq, 0 for the exact types.
	Threshold int `json:"threshold"`
}

// DefaultBankConfig is the configuration of a bank never configured: an
// enabled block bank without labels, every signal type at its default.
func DefaultBankConfig() BankConfig {
	return BankConfig{Enabled: true, Kind: BankKindBlock, Labels: []string{}, Signals: []BankSignalConfig{}}
}

// SignalBits returns the length in bits of a signal type's hash, false for
// an unknown type.
func SignalBits(typ string) (int, bool) {
	switch typ {
	case SignalSHA256, SignalPDQ:
		return 256, true
	case SignalMD5:
		return 128, true
	case SignalPHash, SignalDHash:
		return 64, true
	}
	return 0, false
}

// ExactSignal reports whether a signal type matches only when equal
// (cryptographic hashes) rather than within a Hamming distance.
func ExactSignal(typ string) bool { return typ == SignalSHA256 || typ == SignalMD5 }

// Validate checks the configuration: a known kind, known signal types each
// configured once, thresholds within the hash's bits (0 for exact types).
func (c *BankConfig) Validate() error {
	if c.Kind != BankKindBlock && c.Kind != BankKindAllow {
		return invalid("bank kind %q: want %q or %q", c.Kind, BankKindBlock, BankKindAllow)
	}
	seen := map[string]bool{}
	for _, s := range c.Signals {
		n, ok := SignalBits(s.Type)
		if !ok {
			return invalid("bank config: unknown signal type %q (want one of md5, sha256, phash, dhash, pdq)", s.Type)
		}
		if seen[s.Type] {
			return invalid("bank config: signal type %q configured twice", s.Type)
		}
		seen[s.Type] = true
		switch {
		case ExactSignal(s.Type) && s.Threshold != 0:
			return invalid("bank config: %s threshold %d: %s matches exactly, want 0", s.Type, s.Threshold, s.Type)
		case s.Threshold < 0 || s.Threshold > n:
			return invalid("bank config: %s threshold %d: want 0..%d (bits of a %d-bit hash)", s.Type, s.Threshold, n, n)
		}
	}
	for _, l := range c.Labels {
		if l == "" {
			return invalid("bank config: empty label")
		}
	}
	if !ValidSeverity(c.Severity) {
		return invalid("bank config: severity %q: want critical, high, medium or low", c.Severity)
	}
	if c.VideoQueryPercent < 0 || c.VideoQueryPercent > 100 {
		return invalid("bank config: video_query_percent %d: want 1..100 (0: the matcher's default)", c.VideoQueryPercent)
	}
	if c.VideoReferencePercent < 0 || c.VideoReferencePercent > 100 {
		return invalid("bank config: video_reference_percent %d: want 1..100 (0: the matcher's default)", c.VideoReferencePercent)
	}
	return nil
}

// ValidSeverity reports whether s is a severity; empty is valid and means
// SeverityMedium.
func ValidSeverity(s string) bool {
	switch s {
	case "", SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow:
		return true
	}
	return false
}

// NewBankConfigure makes the update that sets bank's configuration.
func NewBankConfigure(bank string, cfg BankConfig) BankUpdate {
	u := BankUpdate{Op: BankOpConfigure, Bank: bank, Labels: []string{}, Signals: []Signal{}, Config: &cfg}
	u.Meta = NewMeta(TypeBankUpdate, u.Key(), "")
	return u
}

// NewBankDisable makes the update that disables one entry of bank.
func NewBankDisable(bank, entryID string) BankUpdate {
	u := BankUpdate{Op: BankOpDisable, Bank: bank, EntryID: entryID, Labels: []string{}, Signals: []Signal{}}
	u.Meta = NewMeta(TypeBankUpdate, u.Key(), "")
	return u
}

// NewBankAdd makes the update that adds media with the given signals to
// bank. The entry id derives from the media's SHA-256 (or, lacking one, from
// the signals), so adding the same media twice updates one entry instead of
// creating two.
func NewBankAdd(bank string, labels []string, signals []Signal) BankUpdate {
	id := ""
	for _, s := range signals {
		if s.Type == SignalSHA256 && len(s.Value) >= 16 {
			id = s.Value[:16]
		}
	}
	if id == "" {
		h := sha256.New()
		for _, s := range signals {
			fmt.Fprintf(h, "%s:%s\n", s.Type, s.Value)
		}
		id = hex.EncodeToString(h.Sum(nil)[:8])
	}
	return BankUpdate{
		Meta:    NewMeta(TypeBankUpdate, id, ""),
		Op:      BankOpAdd,
		Bank:    bank,
		EntryID: id,
		Labels:  append([]string{}, labels...),
		Signals: signals,
	}
}

// Key is the compaction key of the update.
func (u *BankUpdate) Key() string { return u.Bank + "/" + u.EntryID }

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid event")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks the fields every event must carry.
func (m *Meta) Validate(wantType string) error {
	var missing []string
	if m.EventID == "" {
		missing = append(missing, "event_id")
	}
	if m.ContentID == "" {
		missing = append(missing, "content_id")
	}
	if m.CorrelationID == "" {
		missing = append(missing, "correlation_id")
	}
	if len(missing) > 0 {
		return invalid("missing %s", strings.Join(missing, ", "))
	}
	if m.EventType != wantType {
		return invalid("event_type %q, want %q", m.EventType, wantType)
	}
	if m.SchemaVersion != SchemaVersion {
		return invalid("schema_version %d is not supported (want %d)", m.SchemaVersion, SchemaVersion)
	}
	if len(m.ContentID) > maxScopedIDBytes {
		return invalid("content_id longer than %d bytes", maxScopedIDBytes)
	}
	if m.ClientID != "" {
		if err := CheckClientID(m.ClientID); err != nil {
			return invalid("%v", err)
		}
	}
	return nil
}

// Decode unmarshals data into ev and checks its metadata against wantType.
// Unknown fields are ignored so that a newer producer of the same schema
// version (which may only add optional fields) does not break older consumers.
func Decode(data []byte, wantType string, ev Event) error {
	if err := json.Unmarshal(data, ev); err != nil {
		return invalid("%s: %v", wantType, err)
	}
	if err := ev.Header().Validate(wantType); err != nil {
		return err
	}
	if v, ok := ev.(interface{ validate() error }); ok {
		return v.validate()
	}
	return nil
}

func (e *MediaUploaded) validate() error {
	var missing []string
	if e.MediaURL == "" {
		missing = append(missing, "media_url")
	}
	if e.UploaderID == "" {
		missing = append(missing, "uploader_id")
	}
	if e.UploadedAt.IsZero() {
		missing = append(missing, "uploaded_at")
	}
	if len(missing) > 0 {
		return invalid("missing %s", strings.Join(missing, ", "))
	}
	if e.ContentType != ContentImage && e.ContentType != ContentVideo {
		return invalid("content_type %q: want %q or %q", e.ContentType, ContentImage, ContentVideo)
	}
	return nil
}

func (e *MediaIngested) validate() error {
	if e.MediaURL == "" {
		return invalid("missing media_url")
	}
	// Checked here too, so the hasher refuses a bad type before downloading.
	if e.ContentType != ContentImage && e.ContentType != ContentVideo {
		return invalid("content_type %q: want %q or %q", e.ContentType, ContentImage, ContentVideo)
	}
	return nil
}

func (e *MediaHashed) validate() error {
	if e.Unhashable != nil {
		// Media that could not be fetched has no signals at all.
		if e.Unhashable.Reason == "" {
			return invalid("unhashable without a reason")
		}
		return nil
	}
	if len(e.Signals) == 0 {
		return invalid("no signals")
	}
	return nil
}

func (e *StreamSegment) validate() error {
	var missing []string
	if e.MediaURL == "" {
		missing = append(missing, "media_url")
	}
	if e.UploaderID == "" {
		missing = append(missing, "uploader_id")
	}
	if e.ReceivedAt.IsZero() {
		missing = append(missing, "received_at")
	}
	if len(missing) > 0 {
		return invalid("missing %s", strings.Join(missing, ", "))
	}
	switch {
	case e.Sequence < 0:
		return invalid("sequence %d: want 0 or more", e.Sequence)
	case e.OffsetMs < 0:
		return invalid("offset_ms %d: want 0 or more", e.OffsetMs)
	case e.DurationMs <= 0 || e.DurationMs > MaxSegmentDuration.Milliseconds():
		return invalid("duration_ms %d: want 1..%d", e.DurationMs, MaxSegmentDuration.Milliseconds())
	}
	return nil
}

func (e *ReviewDecided) validate() error {
	if e.Decision != DecisionViolating && e.Decision != DecisionBenign {
		return invalid("decision %q: want %q or %q", e.Decision, DecisionViolating, DecisionBenign)
	}
	if e.Reviewer == "" {
		return invalid("missing reviewer")
	}
	return nil
}

func (u *BankUpdate) validate() error { return u.Validate() }

// Validate checks an update's shape: the op's required fields and, for a
// configure, the configuration. Signal values are checked where they are
// used (pkg/matching/bank), which knows every signal type's format.
func (u *BankUpdate) Validate() error {
	if u.Bank == "" {
		return invalid("bank update needs a bank")
	}
	if strings.Contains(u.Bank, "/") {
		// The compaction key is bank/entry_id: a slash in the bank name would
		// let two entries share one key, and compaction keep only one.
		return invalid("bank name %q contains '/'", u.Bank)
	}
	switch u.Op {
	case BankOpAdd, BankOpDisable:
		if u.EntryID == "" {
			return invalid("bank %s update of bank %s needs an entry_id", u.Op, u.Bank)
		}
		if u.Config != nil {
			return invalid("bank %s %s carries a config: only op %q does", u.Op, u.Key(), BankOpConfigure)
		}
		if u.Op == BankOpAdd && len(u.Signals) == 0 {
			return invalid("bank add %s has no signals", u.Key())
		}
	case BankOpConfigure:
		if u.EntryID != "" {
			return invalid("bank configure of bank %s names entry %q: a configure applies to the whole bank", u.Bank, u.EntryID)
		}
		if u.Config == nil {
			return invalid("bank configure of bank %s has no config", u.Bank)
		}
		if len(u.Signals) > 0 {
			return invalid("bank configure of bank %s carries signals", u.Bank)
		}
		if err := u.Config.Validate(); err != nil {
			return fmt.Errorf("bank %s: %w", u.Bank, err)
		}
	default:
		return invalid("bank update op %q: want %q, %q or %q", u.Op, BankOpAdd, BankOpDisable, BankOpConfigure)
	}
	return nil
}
