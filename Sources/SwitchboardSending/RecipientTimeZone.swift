import Foundation
import SwitchboardCore

/// The recipient's time zone, where the number tells it: a country with a single time zone, or a
/// NANP area code that lies in one. Numbers whose region spans zones (Mexico, Brazil, Australia,
/// Russia, area codes split by a zone line, …) give nil: the job must say `timezone`.
public enum RecipientTimeZone {
    public static func guess(_ number: PhoneNumber) -> String? {
        if number.isNANP, let area = number.areaCode { return nanp[area] }
        guard number.regions.count >= 1, let region = number.regions.first else { return nil }
        return singleZoneCountries[region]
    }

    static let singleZoneCountries: [String: String] = [
        "GB": "Europe/London", "IE": "Europe/Dublin", "FR": "Europe/Paris", "DE": "Europe/Berlin", "IT": "Europe/Rome",
        "NL": "Europe/Amsterdam", "BE": "Europe/Brussels", "CH": "Europe/Zurich", "AT": "Europe/Vienna",
        "SE": "Europe/Stockholm", "NO": "Europe/Oslo", "DK": "Europe/Copenhagen", "FI": "Europe/Helsinki",
        "PL": "Europe/Warsaw", "CZ": "Europe/Prague", "SK": "Europe/Bratislava", "HU": "Europe/Budapest",
        "RO": "Europe/Bucharest", "BG": "Europe/Sofia", "GR": "Europe/Athens", "TR": "Europe/Istanbul",
        "IL": "Asia/Jerusalem", "IN": "Asia/Kolkata", "PK": "Asia/Karachi", "JP": "Asia/Tokyo", "KR": "Asia/Seoul",
        "CN": "Asia/Shanghai", "HK": "Asia/Hong_Kong", "TW": "Asia/Taipei", "SG": "Asia/Singapore", "PH": "Asia/Manila",
        "TH": "Asia/Bangkok", "VN": "Asia/Ho_Chi_Minh", "MY": "Asia/Kuala_Lumpur", "AE": "Asia/Dubai",
        "SA": "Asia/Riyadh", "QA": "Asia/Qatar", "EG": "Africa/Cairo", "ZA": "Africa/Johannesburg",
        "NG": "Africa/Lagos", "KE": "Africa/Nairobi", "GH": "Africa/Accra", "MA": "Africa/Casablanca",
        "CO": "America/Bogota", "PE": "America/Lima", "VE": "America/Caracas", "AR": "America/Argentina/Buenos_Aires",
        "UY": "America/Montevideo", "NZ": "Pacific/Auckland",
    ]

    /// NANP area codes wholly inside one zone (split area codes are left out on purpose).
    static let nanp: [String: String] = {
        var table: [String: String] = [:]
        let zones: [(String, String)] = [
            (
                "America/New_York",
                """
                212 315 332 347 516 518 585 607 631 646 680 716 718 838 845 914 917 929 934 201 551 609 640 732 848 856 \
                862 908 973 215 223 267 272 412 445 484 570 582 610 717 724 814 835 878 339 351 413 508 617 774 781 857 \
                978 203 475 860 959 401 802 603 207 202 240 301 410 443 667 302 276 434 540 571 703 757 804 826 948 304 \
                681 252 336 704 743 828 910 919 980 984 803 839 843 854 864 229 404 470 478 678 706 762 770 912 943 239 \
                305 321 352 386 407 561 656 689 727 754 772 786 813 863 904 941 954 216 220 234 283 326 330 380 419 440 \
                513 567 614 740 937 231 248 269 313 517 586 616 734 810 947 989 317 463 765 260 502 859 423 865
                """
            ),
            (
                "America/Chicago",
                """
                217 224 309 312 331 447 464 618 630 708 773 779 815 847 872 262 414 534 608 715 920 218 320 507 612 651 \
                763 952 319 515 563 641 712 314 417 557 573 636 660 816 975 479 501 870 225 318 337 504 985 228 601 662 \
                769 205 251 256 334 659 938 405 539 572 580 918 316 913 210 214 254 281 346 361 409 469 512 713 737 817 \
                830 832 903 936 940 945 956 972 979 325 430 806 402 531 270 364 615 629 731 901 931
                """
            ),
            ("America/Denver", "303 719 720 970 983 505 575 385 435 801 307 406 915"),
            ("America/Phoenix", "480 520 602 623 928"),
            (
                "America/Los_Angeles",
                """
                209 213 279 310 323 341 350 369 408 415 424 442 510 530 559 562 619 626 628 650 657 661 669 707 714 747 \
                760 805 818 820 831 840 858 909 916 925 949 951 206 253 360 425 509 564 503 971 702 725 775
                """
            ),
            ("America/Anchorage", "907"), ("Pacific/Honolulu", "808"),
            (
                "America/Toronto",
                """
                416 437 647 905 289 365 613 343 519 226 548 705 249 514 438 450 579 418 581 819 873 367
                """
            ),
            ("America/Winnipeg", "204 431"), ("America/Regina", "306 639"), ("America/Edmonton", "403 587 780 825 368"),
            ("America/Vancouver", "604 778 236 672"), ("America/Halifax", "902 782 506"), ("America/St_Johns", "709"),
            ("America/Puerto_Rico", "787 939"),
        ]
        for (zone, codes) in zones {
            for code in codes.split(separator: " ") where !code.isEmpty { table[String(code)] = zone }
        }
        return table
    }()
}
