package logistic

// Test-only exports for the external tests of this package.
var (
	LoadLandmine = loadLandmine
	FewShotSplit = fewShotSplit
)
