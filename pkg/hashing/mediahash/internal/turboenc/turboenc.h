//go:build cgo

int te_encode(const unsigned char *rgb, int width, int height, int quality,
              int progressive, unsigned char **out, unsigned long *out_len, char *msg);
