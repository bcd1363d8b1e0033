package tokens

// HashTokenSecret exposes hashTokenSecret to the tests.
var HashTokenSecret = hashTokenSecret
