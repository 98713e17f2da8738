"""Record: small value classes without dataclasses' import-time cost, which every CGI process pays again."""


class Record:
    """Positional-or-keyword fields with defaults, equality and repr: a dataclass without its import-time cost
    (every class a CGI request imports is built again in every process)."""

    fields = ()  # constructor arguments, in order
    defaults = {}  # those that may be left out
    _field_set = frozenset()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._field_set = frozenset(cls.fields)

    def __init__(self, *args, **kwargs):
        fields = self.fields
        if len(args) > len(fields):
            raise TypeError("%s takes at most %d arguments" % (type(self).__name__, len(fields)))
        values = self.__dict__
        values.update(self.defaults)
        values.update(zip(fields, args))
        if kwargs:
            unknown = set(kwargs).difference(self._field_set)
            if unknown:
                raise TypeError("%s has no field %s" % (type(self).__name__, ", ".join(sorted(unknown))))
            values.update(kwargs)
        if not values.keys() >= self._field_set:
            missing = [name for name in fields if name not in values]
            raise TypeError("%s needs %s" % (type(self).__name__, ", ".join(missing)))

    def replace(self, **changes):
        """A copy with some fields changed."""
        values = {name: getattr(self, name) for name in self.fields}
        values.update(changes)
        return type(self)(**values)

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % (f, getattr(self, f)) for f in self.fields))
