"""ISO 4217 currency codes, for the seat prices (accounts.models.SeatPrice).

The active codes of national and regional currencies (ISO 4217, list one, as of 2025): no precious
metals, funds codes, testing or "no currency" codes, which no seat is priced in.
"""

from django.core.exceptions import ValidationError

_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
    BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
    KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD
    NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
    SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS
    VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
ISO_4217 = frozenset(_CODES.split())


def validate_currency(value: str) -> None:
    """An ISO 4217 code in capitals (``EUR``, ``USD``)."""
    if value not in ISO_4217:
        raise ValidationError(
            "%(value)s is not an ISO 4217 currency code (three capital letters, e.g. EUR or USD).",
            code="currency",
            params={"value": value},
        )
