"""The base layer: pieces every app uses and that import no app of ours."""
