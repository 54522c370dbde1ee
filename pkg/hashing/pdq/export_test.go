package pdq

// Transform rotates or mirrors a picture as DihedralVariants[k] names it,
// pixel by pixel, for the tests of package pdq_test.
var Transform = transform
