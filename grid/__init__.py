"""Party-led five-level grid governance (党建引领五级网格化治理): the domain package."""

__version__ = "0.1.0"
