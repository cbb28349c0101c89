"""The five levels (五级网格), their units, Party organisations, codes and boundary versions."""
